"""The Kubernetes backend: shells as CloudShells (REST half), their mirror, their relayed terminals."""

/**
 * The "New shell" form's presets and fields, turned into a CloudShell spec (pure).
 */
import { IServerInfo, IShellSpec } from './api';

export type PresetId = 'shell' | 'logs' | 'events' | 'exec';

export type FieldId = 'pod' | 'container' | 'namespace';

export interface IPreset {
  id: PresetId;
  /** Short enough for the side bar's select at its narrowest. */
  label: string;
  /** The fields the preset asks for; `pod` is then required. */
  fields: FieldId[];
  /** It runs kubectl against the cluster: useless where the server has none. */
  needsCluster: boolean;
  /** The command line (undefined: the server's default interactive shell). */
  command(values: Partial<Record<FieldId, string>>): string | undefined;
}

/** Options common to the kubectl presets: `-n <namespace>` and `-c <container>` when given. */
function kubectlTarget(values: Partial<Record<FieldId, string>>): string {
  const parts = [values.pod ?? ''];
  if (values.container) {
    parts.push(`-c ${values.container}`);
  }
  if (values.namespace) {
    parts.push(`-n ${values.namespace}`);
  }
  return parts.join(' ');
}

export const PRESETS: readonly IPreset[] = [
  {
    id: 'shell',
    label: 'Interactive shell',
    fields: [],
    needsCluster: false,
    command: () => undefined
  },
  {
    id: 'logs',
    label: "Follow a pod's logs",
    fields: ['pod', 'container', 'namespace'],
    needsCluster: true,
    command: values => `kubectl logs -f ${kubectlTarget(values)}`
  },
  {
    id: 'events',
    label: 'Watch cluster events',
    fields: [],
    needsCluster: true,
    command: () => 'kubectl get events -A -w'
  },
  {
    id: 'exec',
    label: 'Exec into a container',
    fields: ['pod', 'container', 'namespace'],
    needsCluster: true,
    // bash when the image has it, else sh (a failed `exec bash` would end sh itself)
    command: values =>
      `kubectl exec -it ${kubectlTarget(values)} -- sh -c "command -v bash >/dev/null && exec bash || exec sh"`
  }
];

export function preset(id: string): IPreset {
  return PRESETS.find(p => p.id === id) ?? PRESETS[0];
}

/** The presets this server can run, and why the others are not offered (null: all are). */
export interface IOfferedPresets {
  presets: readonly IPreset[];
  hidden: string | null;
}

/**
 * What the form offers, from `GET /cloudtty/api/info`: the kubectl presets only where shells run in
 * the cluster (a local shell has no cluster to talk to, or the server would have used it). Until
 * the info is known (or from a server without it), everything.
 */
export function offeredPresets(info: IServerInfo | null): IOfferedPresets {
  if (!info || info.backend === 'kubernetes') {
    return { presets: PRESETS, hidden: null };
  }
  const why = info.reason ? `: ${info.reason}` : '';
  return {
    presets: PRESETS.filter(p => !p.needsCluster),
    hidden: `Pod logs, events and exec need a cluster; shells here are local${why}.`
  };
}

/** The command line a preset runs, with placeholders for the fields not filled in yet. */
export function commandPreview(
  id: string,
  values: Partial<Record<FieldId, string>>
): string | undefined {
  const chosen = preset(id);
  const shown: Partial<Record<FieldId, string>> = {};
  for (const field of chosen.fields) {
    const value = (values[field] ?? '').trim();
    shown[field] = value || (field === 'pod' ? 'POD' : undefined);
  }
  return chosen.command(shown);
}

/** Labels of the fields, for the form and its messages. */
export const FIELD_LABELS: Record<FieldId, string> = {
  pod: 'Pod',
  container: 'Container',
  namespace: 'Namespace'
};

// A Kubernetes object name (DNS-1123 subdomain); a pod may be given as `type/name` for logs.
const K8S_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const K8S_REF = /^([a-z]+\/)?[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;

/** Why a field's value is unusable, or null. Values are put in a command line: no quoting games. */
export function fieldError(field: FieldId, value: string, required: boolean): string | null {
  if (!value) {
    return required ? `${FIELD_LABELS[field]} is required.` : null;
  }
  const pattern = field === 'pod' ? K8S_REF : K8S_NAME;
  return pattern.test(value)
    ? null
    : `${FIELD_LABELS[field]}: "${value}" is not a Kubernetes name (lowercase letters, digits, "-" and ".").`;
}

const UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/**
 * A duration typed by the user: `90` (seconds), `90s`, `15m`, `2h`, `1d`, `1h30m`.
 * Empty means none (null). Throws an Error saying what is wrong.
 */
export function parseDuration(text: string): number | null {
  const value = text.trim().toLowerCase().replace(/\s+/g, '');
  if (!value) {
    return null;
  }
  if (/^\d+$/.test(value)) {
    return checkPositive(Number(value));
  }
  const part = /(\d+)([smhd])/g;
  let total = 0;
  let consumed = 0;
  for (const match of value.matchAll(part)) {
    if (match.index !== consumed) {
      break;
    }
    total += Number(match[1]) * UNITS[match[2]];
    consumed += match[0].length;
  }
  if (consumed !== value.length) {
    throw new Error(`"${text}" is not a duration: write e.g. 90s, 15m, 2h or 1h30m.`);
  }
  return checkPositive(total);
}

function checkPositive(seconds: number): number {
  if (seconds < 1) {
    throw new Error('A time to live must be at least 1 second.');
  }
  return seconds;
}

/** A duration for people: `45s`, `12m`, `1h 30m`, `2d 3h` (two units at most). */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) {
    return `${s}s`;
  }
  const units: [number, string][] = [
    [86400, 'd'],
    [3600, 'h'],
    [60, 'm'],
    [1, 's']
  ];
  const parts: string[] = [];
  let rest = s;
  for (const [size, unit] of units) {
    if (rest >= size && parts.length < 2) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    } else if (parts.length > 0) {
      break; // keep the two largest adjacent units only
    }
  }
  return parts.join(' ');
}

export interface IFormValues {
  preset: string;
  fields: Partial<Record<FieldId, string>>;
  /** The time to live as typed (empty: none). */
  ttl: string;
  once: boolean;
}

/** The form's fields that can be wrong, each with its message at the field. */
export type FormField = FieldId | 'name' | 'ttl' | 'record';

export type FormErrors = Partial<Record<FormField, string>>;

/** What is wrong in the form, field by field (empty: nothing the browser can tell). */
export function checkForm(values: IFormValues): FormErrors {
  const errors: FormErrors = {};
  for (const field of preset(values.preset).fields) {
    const error = fieldError(field, (values.fields[field] ?? '').trim(), field === 'pod');
    if (error) {
      errors[field] = error;
    }
  }
  try {
    parseDuration(values.ttl);
  } catch (error) {
    errors.ttl = (error as Error).message;
  }
  return errors;
}

/** The spec the form describes, or its first error (a sentence for the user) and the field. */
export function buildSpec(
  values: IFormValues
): { spec: IShellSpec } | { error: string; field: FormField } {
  const errors = Object.entries(checkForm(values)) as [FormField, string][];
  if (errors.length) {
    const [field, error] = errors[0];
    return { error, field };
  }
  const chosen = preset(values.preset);
  const fields: Partial<Record<FieldId, string>> = {};
  for (const field of chosen.fields) {
    const value = (values.fields[field] ?? '').trim();
    if (value) {
      fields[field] = value;
    }
  }
  const spec: IShellSpec = {};
  const command = chosen.command(fields);
  if (command) {
    spec.commandAction = command;
  }
  const ttl = parseDuration(values.ttl);
  if (ttl !== null) {
    spec.ttlSecondsAfterStarted = ttl;
  }
  if (values.once) {
    spec.once = true;
  }
  return { spec };
}

// The server's messages start with the field's path (`name: …`, `spec.ttl: …`); a taken name is 409's.
const SERVER_FIELDS: [RegExp, FormField][] = [
  [/^name: /, 'name'],
  [/^a shell named .* already exists/, 'name'],
  [/^spec\.(ttlSecondsAfterStarted|ttl): /, 'ttl'],
  [/^record: /, 'record']
];

/**
 * Where the server's refusal of a new shell belongs in the form: the field it names, with the
 * message minus the field's path (the field's label says it), or null for the form as a whole.
 */
export function serverFieldError(message: string): { field: FormField; error: string } | null {
  for (const [pattern, field] of SERVER_FIELDS) {
    const match = pattern.exec(message);
    if (match) {
      const rest = match[0].endsWith(': ') ? message.slice(match[0].length) : message;
      const error = humanizeSeconds(rest);
      return { field, error: error.charAt(0).toUpperCase() + error.slice(1) };
    }
  }
  return null;
}

/** One of Extend's choices: so many seconds more, so labelled. */
export interface IExtendChoice {
  seconds: number;
  label: string;
}

/** What "Extend" offers a running shell: more time to live. */
export const EXTEND_CHOICES: readonly IExtendChoice[] = [
  { seconds: 1800, label: '+30 min' },
  { seconds: 3600, label: '+1 h' },
  { seconds: 14400, label: '+4 h' }
];

/** "+1 h" for 3600 seconds; another amount as a duration ("+2h"). */
export function extendLabel(seconds: number): string {
  return (
    EXTEND_CHOICES.find(choice => choice.seconds === seconds)?.label ??
    `+${formatDuration(seconds)}`
  );
}

/** A server message's "N seconds" also said for people: "at most 14400 seconds (4h)". */
export function humanizeSeconds(message: string): string {
  return message.replace(/\b(\d+) seconds\b/g, (text, n: string) =>
    Number(n) >= 60 ? `${text} (${formatDuration(Number(n))})` : text
  );
}

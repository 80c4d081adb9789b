/**
 * The "Cluster shells" side panel: the user's shells, live, with open / reconnect / extend /
 * delete, "Remove ended shells", and a "New shell" button and form.
 */
import {
  HTMLSelect,
  ReactWidget,
  caretDownEmptyIcon,
  deleteIcon,
  historyIcon,
  refreshIcon
} from '@jupyterlab/ui-components';
import { ISignal, Signal } from '@lumino/signaling';
import React, { useEffect, useRef, useState } from 'react';

import { removeEndedShells } from './actions';
import {
  IServerInfo,
  IShell,
  hasEnded,
  idleEnding,
  idleTimeoutSeconds,
  restartedCondition,
  startedAt,
  ttlSeconds
} from './api';
import { recordingIcon, shellIcon } from './icons';
import {
  EXTEND_CHOICES,
  FIELD_LABELS,
  FieldId,
  FormErrors,
  IExtendChoice,
  buildSpec,
  checkForm,
  commandPreview,
  formatDuration,
  humanizeSeconds,
  offeredPresets,
  preset,
  serverFieldError
} from './presets';
import { idleWhy } from './protocol';
import { IRecording, recordingLabel } from './casts';
import { IRecordingActions } from './recordings';
import { ShellsModel } from './shells';
import { startNote, startingLabel } from './start';
import { ConnectionState } from './terminal';

/** What the panel asks of the rest of the extension. */
export interface IPanelActions {
  /** Create a shell from the form (or the defaults) and open it; rejects with the server's message. */
  create(request: {
    name?: string;
    spec: Record<string, unknown>;
    record?: boolean;
  }): Promise<void>;
  open(name: string): void;
  /** Resolves false when the user cancelled. */
  delete(name: string): Promise<boolean>;
  /** Give a running shell `seconds` more to live; rejects with the server's message. */
  extend(name: string, seconds: number): Promise<void>;
  reconnect(name: string): void;
  /** The open terminal's state, or null when the shell has no open tab. */
  terminalState(name: string): ConnectionState | null;
  /** Emitted when an open terminal's state changes. */
  terminalsChanged: ISignal<unknown, void>;
  /** A shell's recorded sessions (the "Recordings" action of a recorded shell). */
  recordings?: IRecordingActions;
}

/** The form's defaults, from the settings registry. */
export interface IPanelDefaults {
  preset: string;
  ttl: string;
}

type CreateRequest = { name?: string; spec: Record<string, unknown>; record?: boolean };

export class ShellsPanel extends ReactWidget {
  constructor(
    readonly model: ShellsModel,
    private readonly _actions: IPanelActions,
    private readonly _defaults: () => IPanelDefaults
  ) {
    super();
    this.id = 'jp-CloudTTY-panel';
    this.addClass('jp-CloudTTY-panel');
    this.title.icon = shellIcon;
    this.title.caption = 'Cluster shells';
  }

  /** Open the "New shell" form (from the command palette). */
  showForm(): void {
    this._formRequested.emit();
  }

  /** The shell of the active terminal tab, as last set. */
  get activeShell(): string | null {
    return this._active;
  }

  /**
   * Mark the shell whose terminal tab is the active one (null: none is): its item is highlighted,
   * `aria-current="true"`, and scrolled into view.
   */
  setActiveShell(name: string | null): void {
    if (name !== this._active) {
      this._active = name;
      this.update();
    }
  }

  render(): React.ReactElement {
    return (
      <PanelView
        model={this.model}
        actions={this._actions}
        defaults={this._defaults}
        formRequested={this._formRequested}
        active={this._active}
      />
    );
  }

  private _active: string | null = null;
  private _formRequested = new Signal<this, void>(this);
}

/** Re-render when a signal fires. */
function useSignal(signal: ISignal<unknown, unknown>): void {
  const [, setTick] = useState(0);
  useEffect(() => {
    const slot = () => setTick(tick => tick + 1);
    signal.connect(slot);
    return () => {
      signal.disconnect(slot);
    };
  }, [signal]);
}

/** The current time, every second (ages and TTLs count down). */
function useNow(): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, []);
  return now;
}

/** Scroll the panel (only it: not JupyterLab's layout) until `element` is in view. */
function reveal(element: HTMLElement | null): void {
  const scroller = element?.closest<HTMLElement>('.jp-CloudTTY-panel');
  if (!element || !scroller) {
    return;
  }
  const box = element.getBoundingClientRect();
  const view = scroller.getBoundingClientRect();
  if (box.top < view.top) {
    scroller.scrollTop -= view.top - box.top;
  } else if (box.bottom > view.bottom) {
    scroller.scrollTop += Math.min(box.bottom - view.bottom, box.top - view.top);
  }
}

function PanelView(props: {
  model: ShellsModel;
  actions: IPanelActions;
  defaults: () => IPanelDefaults;
  formRequested: ISignal<unknown, void>;
  active: string | null;
}): React.ReactElement {
  const { model, actions } = props;
  useSignal(model.changed);
  useSignal(actions.terminalsChanged);
  const now = useNow();
  const [formOpen, setFormOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  // After a delete, the item that takes the deleted one's place gets the focus (or the list's).
  const [focusAt, setFocusAt] = useState<number | null>(null);
  const [created, setCreated] = useState<string | null>(null);
  const optionsButton = useRef<HTMLButtonElement>(null);
  const list = useRef<HTMLDivElement>(null);

  useEffect(() => {
    const slot = () => setFormOpen(true);
    props.formRequested.connect(slot);
    return () => {
      props.formRequested.disconnect(slot);
    };
  }, [props.formRequested]);

  useEffect(() => {
    if (focusAt === null) {
      return;
    }
    const items = list.current?.querySelectorAll<HTMLElement>('.jp-CloudTTY-shell-open') ?? [];
    const target = items.length
      ? items[Math.min(focusAt, items.length - 1)]
      : list.current?.querySelector<HTMLElement>('.jp-CloudTTY-empty');
    target?.focus();
    setFocusAt(null);
  }, [focusAt]);

  /** Resolves to the server's refusal, or null once the shell is created (and opened). */
  const create = async (request: CreateRequest): Promise<string | null> => {
    setBusy(true);
    setError(null);
    const before = new Set(model.shells.map(shell => shell.name));
    try {
      await actions.create(request);
    } catch (e) {
      return (e as Error).message;
    } finally {
      setBusy(false);
    }
    // The new one goes to the end of the list: show it there, however long the list is.
    const added = model.shells.filter(shell => !before.has(shell.name));
    setCreated(request.name ?? added[added.length - 1]?.name ?? null);
    return null;
  };

  const quickCreate = async () => {
    performance.mark('cloudtty:new-shell-click');
    const defaults = props.defaults();
    const offered = offeredPresets(model.info).presets.some(p => p.id === defaults.preset);
    const built = buildSpec({
      preset: defaults.preset,
      fields: {},
      ttl: defaults.ttl,
      once: false
    });
    if ('error' in built || !offered) {
      setFormOpen(true); // the default preset needs fields, or is not for this server: the form says
      return;
    }
    const refused = await create({ spec: built.spec });
    if (refused) {
      setError(refused);
    }
  };

  const closeForm = () => {
    setFormOpen(false);
    optionsButton.current?.focus();
  };

  const remove = async (name: string) => {
    setError(null);
    const index = model.shells.findIndex(shell => shell.name === name);
    try {
      if (await actions.delete(name)) {
        setFocusAt(Math.max(0, index));
      }
    } catch (e) {
      setError((e as Error).message);
    }
  };

  const removeEnded = async () => {
    setError(null);
    const first = model.shells.findIndex(hasEnded);
    try {
      if ((await removeEndedShells(model)).length) {
        setFocusAt(Math.max(0, first));
      }
    } catch (e) {
      setError((e as Error).message);
      setFocusAt(Math.max(0, first));
    }
  };

  /** Resolves true once the server took the new TTL. */
  const extend = async (name: string, choice: IExtendChoice) => {
    setError(null);
    try {
      await actions.extend(name, choice.seconds);
      return true;
    } catch (e) {
      // e.g. over the server's max_ttl: its message names the limit
      setError(
        `Cannot extend ${name} by ${choice.label.slice(1)}: ${humanizeSeconds((e as Error).message)}`
      );
      return false;
    }
  };

  const ended = model.shells.filter(hasEnded).length;
  return (
    <div className="jp-CloudTTY-panel-body">
      <header className="jp-CloudTTY-header">
        <h2 className="jp-CloudTTY-heading">Cluster shells</h2>
        <BackendBadge info={model.info} mode={model.mode} />
      </header>
      <div className="jp-CloudTTY-toolbar">
        <span className="jp-CloudTTY-split">
          <button
            type="button"
            className="jp-Button jp-mod-styled jp-mod-accept jp-CloudTTY-new"
            disabled={busy}
            onClick={() => void quickCreate()}
            title="Start a shell with your default preset and open its terminal"
          >
            New shell
          </button>
          <button
            ref={optionsButton}
            type="button"
            className="jp-Button jp-mod-styled jp-mod-accept jp-CloudTTY-options"
            aria-label="Options…"
            aria-expanded={formOpen}
            onClick={() => (formOpen ? closeForm() : setFormOpen(true))}
            title={
              formOpen
                ? 'Hide the options'
                : 'New shell with options: a preset, a time to live, a name…'
            }
          >
            <caretDownEmptyIcon.react tag="span" />
          </button>
        </span>
        <button
          type="button"
          className="jp-CloudTTY-icon-button jp-CloudTTY-refresh"
          onClick={() => void model.refresh().catch(() => undefined)}
          title="Refresh the list"
          aria-label="Refresh"
        >
          <refreshIcon.react tag="span" />
        </button>
      </div>
      {formOpen && (
        <NewShellForm
          defaults={props.defaults()}
          info={model.info}
          busy={busy}
          onCancel={closeForm}
          onSubmit={async request => {
            performance.mark('cloudtty:new-shell-click');
            const refused = await create(request);
            if (!refused) {
              setFormOpen(false);
            }
            return refused;
          }}
        />
      )}
      {error && (
        <div className="jp-CloudTTY-error" role="alert">
          <span>{error}</span>
          <button
            type="button"
            className="jp-CloudTTY-icon-button"
            aria-label="Dismiss"
            onClick={() => setError(null)}
          >
            ×
          </button>
        </div>
      )}
      {model.error && (
        <div className="jp-CloudTTY-error" role="alert">
          The list of shells cannot be read: {model.error}
        </div>
      )}
      {ended > 0 && (
        <div className="jp-CloudTTY-ended-bar">
          <span>{ended} ended</span>
          <button
            type="button"
            className="jp-Button jp-mod-minimal jp-mod-small jp-CloudTTY-remove-ended"
            title="Delete every shell that has ended (after asking once)"
            onClick={() => void removeEnded()}
          >
            Remove ended shells
          </button>
        </div>
      )}
      <div ref={list} className="jp-CloudTTY-list-area">
        <ShellList
          shells={model.shells}
          loaded={model.loaded}
          now={now}
          active={props.active}
          created={created}
          actions={actions}
          onDelete={name => void remove(name)}
          onExtend={extend}
        />
      </div>
    </div>
  );
}

function BackendBadge(props: { info: IServerInfo | null; mode: string }): React.ReactElement {
  const { info, mode } = props;
  if (!info) {
    return <span className="jp-CloudTTY-backend" />;
  }
  const label =
    info.backend === 'kubernetes'
      ? `Kubernetes${info.namespace ? ` · ${info.namespace}` : ''}`
      : `${info.backend[0].toUpperCase()}${info.backend.slice(1)} backend`;
  const details = [
    `Backend: ${info.backend}${info.reason ? ` (${info.reason})` : ''}`,
    info.namespace ? `Namespace: ${info.namespace}` : '',
    info.apiServer ? `API server: ${info.apiServer}` : '',
    info.identity ? `Identity: ${info.identity}` : '',
    info.version ? `jupyter-cloudtty ${info.version}` : '',
    mode === 'events' ? 'Updates: live' : mode === 'polling' ? 'Updates: polling' : ''
  ].filter(Boolean);
  return (
    <span className="jp-CloudTTY-backend" title={details.join('\n')}>
      {label}
    </span>
  );
}

/** A form field's label, control and, when it is wrong, the message at it (`aria-describedby`). */
function Field(props: {
  label: string;
  error?: string;
  /** Ids of more text that describes the control (a hint, a note). */
  describedBy?: string[];
  className?: string;
  children: (control: {
    id: string;
    'aria-invalid'?: 'true';
    'aria-describedby'?: string;
  }) => React.ReactElement;
  /** The label after the control (a checkbox). */
  labelAfter?: boolean;
}): React.ReactElement {
  const id = React.useId();
  const errorId = `${id}-error`;
  const describedBy = [...(props.error ? [errorId] : []), ...(props.describedBy ?? [])];
  const control = props.children({
    id,
    ...(props.error ? { 'aria-invalid': 'true' as const } : {}),
    ...(describedBy.length ? { 'aria-describedby': describedBy.join(' ') } : {})
  });
  const label = <label htmlFor={id}>{props.label}</label>;
  return (
    <div className={`jp-CloudTTY-field ${props.className ?? ''}`}>
      {props.labelAfter ? (
        <span className="jp-CloudTTY-checkbox">
          {control}
          {label}
        </span>
      ) : (
        <>
          {label}
          {control}
        </>
      )}
      {props.error && (
        <span id={errorId} className="jp-CloudTTY-field-error">
          {props.error}
        </span>
      )}
    </div>
  );
}

function NewShellForm(props: {
  defaults: IPanelDefaults;
  /** The backend (which presets it can run) and the recording policy: "optional" offers a choice. */
  info: IServerInfo | null;
  busy: boolean;
  /** Resolves to the server's refusal, or null once the shell exists. */
  onSubmit: (request: CreateRequest) => Promise<string | null>;
  /** Cancel or Escape: the form closes, the focus goes back to its button. */
  onCancel: () => void;
}): React.ReactElement {
  const [presetId, setPresetId] = useState(preset(props.defaults.preset).id);
  const [fields, setFields] = useState<Partial<Record<FieldId, string>>>({});
  const [name, setName] = useState('');
  const [ttl, setTtl] = useState(props.defaults.ttl);
  const [once, setOnce] = useState(false);
  const [record, setRecord] = useState(false);
  const [errors, setErrors] = useState<FormErrors>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [checked, setChecked] = useState(0); // a submit found errors: the first wrong field is next
  const form = useRef<HTMLFormElement>(null);
  const hintId = React.useId();
  const recording = props.info?.recording?.mode ?? 'off';
  const offered = offeredPresets(props.info);
  // The default (or the one chosen before the server's info came) may not be offered here.
  const chosen = offered.presets.find(p => p.id === presetId) ?? offered.presets[0];
  const preview = commandPreview(chosen.id, fields);

  useEffect(() => {
    form.current?.querySelector<HTMLElement>('select, input')?.focus(); // opened: its first field
  }, []);

  useEffect(() => {
    if (checked) {
      form.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
    }
  }, [checked]);

  /** Set a field, and forget what was wrong with it. */
  const edited = (field: keyof FormErrors, set: () => void) => {
    set();
    if (errors[field]) {
      setErrors({ ...errors, [field]: undefined });
    }
  };

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    const values = { preset: chosen.id, fields, ttl, once };
    const found = checkForm(values);
    setFormError(null);
    setErrors(found);
    const built = buildSpec(values);
    if ('error' in built) {
      setChecked(n => n + 1);
      return;
    }
    const trimmed = name.trim();
    const refused = await props.onSubmit({
      ...(trimmed ? { name: trimmed } : {}),
      spec: built.spec,
      ...(recording === 'optional' && record ? { record: true } : {})
    });
    if (refused) {
      const at = serverFieldError(refused);
      if (at && (at.field !== 'record' || recording === 'optional')) {
        setErrors({ [at.field]: at.error });
        setChecked(n => n + 1);
      } else {
        setFormError(refused);
      }
    }
  };

  return (
    <form
      ref={form}
      className="jp-CloudTTY-form"
      onSubmit={event => void submit(event)}
      aria-label="New shell"
      noValidate
      onKeyDown={event => {
        if (event.key === 'Escape') {
          event.preventDefault();
          event.stopPropagation();
          props.onCancel();
        }
      }}
    >
      <Field label="Preset" describedBy={[hintId]}>
        {control => (
          <HTMLSelect
            {...control}
            className="jp-CloudTTY-select"
            name="preset"
            value={chosen.id}
            onChange={event => setPresetId(preset(event.target.value).id)}
            options={offered.presets.map(p => ({ label: p.label, value: p.id }))}
            iconProps={{ top: '6px' }} // centred in the form's 28px field (24px in a toolbar)
          />
        )}
      </Field>
      <div id={hintId} className="jp-CloudTTY-form-hints">
        {preview && <code className="jp-CloudTTY-command-preview">{preview}</code>}
        {offered.hidden && <p className="jp-CloudTTY-presets-note">{offered.hidden}</p>}
      </div>
      {chosen.fields.map(field => (
        <Field
          key={field}
          label={`${FIELD_LABELS[field]}${field === 'pod' ? '' : ' (optional)'}`}
          error={errors[field]}
        >
          {control => (
            <input
              {...control}
              className="jp-mod-styled"
              name={field}
              value={fields[field] ?? ''}
              placeholder={field === 'pod' ? 'my-pod-5d9c7' : ''}
              onChange={event =>
                edited(field, () => setFields({ ...fields, [field]: event.target.value }))
              }
            />
          )}
        </Field>
      ))}
      <Field label="Name (optional)" error={errors.name}>
        {control => (
          <input
            {...control}
            className="jp-mod-styled"
            name="name"
            value={name}
            placeholder="generated"
            onChange={event => edited('name', () => setName(event.target.value))}
          />
        )}
      </Field>
      <Field label="Time to live" error={errors.ttl}>
        {control => (
          <input
            {...control}
            className="jp-mod-styled"
            name="ttl"
            value={ttl}
            placeholder="none (e.g. 30m, 2h)"
            onChange={event => edited('ttl', () => setTtl(event.target.value))}
          />
        )}
      </Field>
      <Field label="End when its last terminal closes (once)" labelAfter>
        {control => (
          <input
            {...control}
            type="checkbox"
            name="once"
            checked={once}
            onChange={event => setOnce(event.target.checked)}
          />
        )}
      </Field>
      {recording === 'optional' && (
        <Field
          label="Record the session (replayable from the shell's Recordings)"
          error={errors.record}
          labelAfter
        >
          {control => (
            <input
              {...control}
              type="checkbox"
              name="record"
              checked={record}
              onChange={event => edited('record', () => setRecord(event.target.checked))}
            />
          )}
        </Field>
      )}
      {recording === 'required' && (
        <p className="jp-CloudTTY-form-note">This server records every shell's session.</p>
      )}
      {formError && (
        <p className="jp-CloudTTY-form-error" role="alert">
          {formError}
        </p>
      )}
      <div className="jp-CloudTTY-form-buttons">
        <button
          type="button"
          className="jp-Button jp-mod-styled jp-mod-reject"
          onClick={props.onCancel}
        >
          Cancel
        </button>
        <button
          type="submit"
          className="jp-Button jp-mod-styled jp-mod-accept jp-CloudTTY-create"
          disabled={props.busy}
        >
          Create
        </button>
      </div>
    </form>
  );
}

const PHASE_CLASS: Record<string, string> = {
  Ready: 'ready',
  Complete: 'complete',
  Failed: 'failed'
};

function ShellList(props: {
  shells: readonly IShell[];
  loaded: boolean;
  now: number;
  /** The shell of the active terminal tab. */
  active: string | null;
  /** The shell just created from the panel. */
  created: string | null;
  actions: IPanelActions;
  onDelete: (name: string) => void;
  onExtend: (name: string, choice: IExtendChoice) => Promise<boolean>;
}): React.ReactElement {
  const { shells } = props;
  if (!props.loaded) {
    return <p className="jp-CloudTTY-empty">Loading shells…</p>;
  }
  if (shells.length === 0) {
    // Focusable: where the focus goes when the last shell is deleted.
    return (
      <div className="jp-CloudTTY-empty" tabIndex={-1}>
        <p>No shells yet.</p>
        <p>
          <strong>New shell</strong> starts one and opens its terminal in a tab you can dock next to
          a notebook. Its <strong>▾</strong> (Options…) offers presets (<code>kubectl logs -f</code>
          , events, exec into a container), a time to live and more.
        </p>
      </div>
    );
  }
  return (
    <ul className="jp-CloudTTY-list" aria-label="Shells">
      {shells.map(shell => (
        <ShellItem
          key={shell.name}
          shell={shell}
          now={props.now}
          active={shell.name === props.active}
          created={shell.name === props.created}
          actions={props.actions}
          onDelete={props.onDelete}
          onExtend={props.onExtend}
        />
      ))}
    </ul>
  );
}

/** One piece of an item's meta line, with its tooltip. */
interface IMeta {
  text: string;
  title?: string;
  className?: string;
}

function ShellItem(props: {
  shell: IShell;
  now: number;
  active: boolean;
  created: boolean;
  actions: IPanelActions;
  onDelete: (name: string) => void;
  onExtend: (name: string, choice: IExtendChoice) => Promise<boolean>;
}): React.ReactElement {
  const { shell, actions, now } = props;
  const [extendOpen, setExtendOpen] = useState(false);
  const [extending, setExtending] = useState(false);
  const item = useRef<HTMLLIElement>(null);
  const extendButton = useRef<HTMLButtonElement>(null);
  const [recordingsOpen, setRecordingsOpen] = useState(false);
  const recordingsButton = useRef<HTMLButtonElement>(null);
  // A recorded shell lists its sessions, running or ended, for as long as the panel lists it.
  const recordings = shell.record === true ? actions.recordings : undefined;
  const startWhyId = React.useId();
  const commandId = React.useId();
  const phase = shell.status?.phase || 'Pending';
  const ended = hasEnded(shell);
  const terminal = actions.terminalState(shell.name);
  const ttl = ttlSeconds(shell);
  const age = (now - Date.parse(shell.created)) / 1000;
  const meta: IMeta[] = [{ text: `${formatDuration(Number.isFinite(age) ? age : 0)} old` }];
  if (ttl !== null && !ended) {
    // The TTL is a whole lifetime counted from the start (lastScheduleTime), as the server counts it.
    const lived = (now - startedAt(shell)) / 1000;
    meta.push({
      text: `${formatDuration(Math.max(0, ttl - (Number.isFinite(lived) ? lived : 0)))} left`,
      title: `Time to live: ${formatDuration(ttl)} in all`,
      className: 'jp-CloudTTY-shell-left'
    });
  }
  const idle = idleTimeoutSeconds(shell);
  if (idle !== null && !ended) {
    meta.push({
      text: `idle ${formatDuration(idle)}`,
      title: `Ends after ${formatDuration(idle)} with no input and no output (never while a command runs)`,
      className: 'jp-CloudTTY-shell-idle'
    });
  }
  if (terminal) {
    meta.push({ text: terminal === 'open' ? 'open' : `tab: ${terminal}` });
  }
  // Where the operator keeps a warm pool: "starting (cold)" instead of the phase until Ready, then
  // where it started. Words and a title, and the reason as the row's description for screen readers.
  const starting = startingLabel(shell);
  const note = startNote(shell);
  if (note) {
    meta.push({ text: note.text, title: note.title, className: 'jp-CloudTTY-shell-start' });
  }
  const startWhy = (starting ?? note)?.title;
  const idleEnd = idleEnding(shell);
  const restarted = restartedCondition(shell);
  const condition = shell.status?.conditions?.find(c => c.message);
  const command = shell.spec?.commandAction;
  const canExtend = ttl !== null && !ended;
  // A reconnect helps a tab whose connection dropped or was refused, while the shell still runs.
  const canReconnect = !ended && (terminal === 'reconnecting' || terminal === 'failed');
  const once = shell.spec?.once === true;

  // Shown when it becomes the active tab's shell, or once created; not again when the other changes.
  useEffect(() => {
    if (props.active) {
      reveal(item.current);
    }
  }, [props.active]);
  useEffect(() => {
    if (props.created) {
      reveal(item.current);
    }
  }, [props.created]);

  const closeExtend = () => {
    setExtendOpen(false);
    extendButton.current?.focus(); // keyboard users stay where they were
  };

  const closeRecordings = () => {
    setRecordingsOpen(false);
    recordingsButton.current?.focus();
  };

  const extend = async (choice: IExtendChoice) => {
    setExtending(true);
    const done = await props.onExtend(shell.name, choice);
    setExtending(false);
    if (done) {
      closeExtend();
    }
  };

  const classes = [
    'jp-CloudTTY-shell',
    `jp-CloudTTY-phase-${PHASE_CLASS[phase] ?? 'pending'}`,
    props.active ? 'jp-mod-active' : '',
    props.created ? 'jp-mod-created' : ''
  ];
  return (
    <li ref={item} className={classes.filter(Boolean).join(' ')} data-shell-name={shell.name}>
      <button
        type="button"
        className="jp-CloudTTY-shell-open"
        onClick={() => actions.open(shell.name)}
        title={`Open the terminal of ${shell.name}`}
        // Its name and phase only: not the clock that ticks, not the condition's message.
        aria-label={`${shell.name}, ${starting?.text ?? phase}`}
        aria-describedby={[commandId, ...(startWhy ? [startWhyId] : [])].join(' ')}
        aria-current={props.active ? 'true' : undefined}
      >
        <span className="jp-CloudTTY-shell-line">
          <span className="jp-CloudTTY-shell-name">{shell.name}</span>
          {starting ? (
            <span
              className="jp-CloudTTY-phase jp-CloudTTY-phase-starting"
              title={`${starting.title} (phase: ${phase})`}
            >
              {starting.text}
            </span>
          ) : (
            <span className="jp-CloudTTY-phase" title={condition?.message}>
              {phase}
            </span>
          )}
          {once && (
            <span
              className="jp-CloudTTY-badge jp-CloudTTY-once"
              title="Once: the shell ends when its last terminal closes"
            >
              once
            </span>
          )}
          {restarted && !ended && (
            <span
              className="jp-CloudTTY-restarted"
              title={restarted.message ?? restarted.reason ?? ''}
            >
              restarted
            </span>
          )}
        </span>
        <span id={commandId} className="jp-CloudTTY-shell-command">
          {command ?? 'interactive shell'}
        </span>
        <span className="jp-CloudTTY-shell-meta">
          {meta.map((piece, i) => (
            <React.Fragment key={i}>
              {i > 0 && ' · '}
              <span className={piece.className} title={piece.title}>
                {piece.text}
              </span>
            </React.Fragment>
          ))}
        </span>
        {startWhy && (
          <span id={startWhyId} hidden>
            {startWhy}
          </span>
        )}
        {idleEnd && (
          <span className="jp-CloudTTY-shell-ending">
            Ended idle{idleEnd.message ? `: ${idleWhy(idleEnd.message)}` : ''}
          </span>
        )}
      </button>
      <span className="jp-CloudTTY-shell-actions">
        {canReconnect && (
          <button
            type="button"
            className="jp-CloudTTY-icon-button jp-CloudTTY-reconnect"
            title={`Reconnect the terminal of ${shell.name}`}
            aria-label={`Reconnect ${shell.name}`}
            onClick={() => actions.reconnect(shell.name)}
          >
            <refreshIcon.react tag="span" />
          </button>
        )}
        {canExtend && (
          <button
            ref={extendButton}
            type="button"
            className="jp-CloudTTY-icon-button jp-CloudTTY-extend"
            title={`Give ${shell.name} more time to live`}
            aria-label={`Extend ${shell.name}`}
            aria-expanded={extendOpen}
            onClick={() => setExtendOpen(!extendOpen)}
          >
            <historyIcon.react tag="span" />
          </button>
        )}
        {recordings && (
          <button
            ref={recordingsButton}
            type="button"
            className="jp-CloudTTY-icon-button jp-CloudTTY-recordings"
            title={`Recordings of ${shell.name}`}
            aria-label={`Recordings of ${shell.name}`}
            aria-expanded={recordingsOpen}
            onClick={() => setRecordingsOpen(!recordingsOpen)}
          >
            <recordingIcon.react tag="span" />
          </button>
        )}
        <button
          type="button"
          className="jp-CloudTTY-icon-button jp-CloudTTY-delete"
          title={`Delete ${shell.name}`}
          aria-label={`Delete ${shell.name}`}
          onClick={() => props.onDelete(shell.name)}
        >
          <deleteIcon.react tag="span" />
        </button>
      </span>
      {canExtend && extendOpen && (
        <ExtendChoices
          name={shell.name}
          busy={extending}
          onChoose={choice => void extend(choice)}
          onClose={closeExtend}
        />
      )}
      {recordings && recordingsOpen && (
        <RecordingChoices
          name={shell.name}
          actions={recordings}
          onClose={closeRecordings}
          onOpened={() => setRecordingsOpen(false)}
        />
      )}
    </li>
  );
}

/**
 * A shell's recordings, newest first, as a list of buttons under its item: one opens in the player
 * (and the list closes). The keyboard: the first one takes the focus, Up and Down move, Escape closes.
 */
function RecordingChoices(props: {
  name: string;
  actions: IRecordingActions;
  /** Escape or ×: the focus goes back to the item's button. */
  onClose: () => void;
  /** A recording opened in its tab, which has the focus now: the list goes, as a menu does. */
  onOpened: () => void;
}): React.ReactElement {
  const [recordings, setRecordings] = useState<IRecording[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const group = React.useRef<HTMLDivElement>(null);
  const { name, actions } = props;

  useEffect(() => {
    let shown = true;
    actions.list(name).then(
      found => shown && setRecordings(found),
      (e: unknown) => {
        if (shown) {
          setRecordings([]);
          setError(`Cannot list the recordings: ${(e as Error).message}`);
        }
      }
    );
    return () => {
      shown = false;
    };
  }, [name, actions]);

  // Opened from the keyboard: the focus comes here, then to the first recording once listed.
  useEffect(() => {
    const first = group.current?.querySelector<HTMLElement>('.jp-CloudTTY-recording');
    (first ?? group.current)?.focus();
  }, [recordings]);

  const open = (recording: IRecording) => {
    setError(null);
    actions.open(recording).then(props.onOpened, (e: unknown) => {
      setError(`Cannot open ${recording.file}: ${(e as Error).message}`);
    });
  };

  const onKeyDown = (event: React.KeyboardEvent) => {
    if (event.key === 'Escape') {
      event.stopPropagation();
      props.onClose();
      return;
    }
    if (event.key !== 'ArrowDown' && event.key !== 'ArrowUp') {
      return;
    }
    const buttons = Array.from(
      group.current?.querySelectorAll<HTMLElement>('.jp-CloudTTY-recording') ?? []
    );
    const at = buttons.indexOf(document.activeElement as HTMLElement);
    const next = event.key === 'ArrowDown' ? at + 1 : at - 1;
    if (buttons.length) {
      event.preventDefault();
      buttons[(next + buttons.length) % buttons.length].focus();
    }
  };

  return (
    <div
      ref={group}
      className="jp-CloudTTY-recording-choices"
      role="group"
      aria-label={`Recordings of ${name}`}
      tabIndex={-1}
      onKeyDown={onKeyDown}
    >
      {recordings === null && <span aria-live="polite">Listing the recordings…</span>}
      {recordings?.length === 0 && !error && <span>No recordings yet.</span>}
      {error && <span role="alert">{error}</span>}
      {recordings && recordings.length > 0 && (
        <ul>
          {recordings.map(recording => (
            <li key={recording.file}>
              <button
                type="button"
                className="jp-CloudTTY-recording"
                title={`Play ${recording.file}${recording.input ? ' (with what was typed)' : ''}`}
                onClick={() => open(recording)}
              >
                {recordingLabel(recording)}
              </button>
            </li>
          ))}
        </ul>
      )}
      <button
        type="button"
        className="jp-CloudTTY-icon-button"
        aria-label="Close the recordings"
        title="Close"
        onClick={props.onClose}
      >
        ×
      </button>
    </div>
  );
}

/** The amounts "Extend" offers, as a row of buttons under the item (Escape closes it). */
function ExtendChoices(props: {
  name: string;
  busy: boolean;
  onChoose: (choice: IExtendChoice) => void;
  onClose: () => void;
}): React.ReactElement {
  const first = React.useRef<HTMLButtonElement>(null);
  useEffect(() => first.current?.focus(), []); // opened from the keyboard: the choices come next
  return (
    <div
      className="jp-CloudTTY-extend-choices"
      role="group"
      aria-label={`Extend ${props.name} by`}
      title={`Give ${props.name} more time to live`}
      onKeyDown={event => {
        if (event.key === 'Escape') {
          event.stopPropagation();
          props.onClose();
        }
      }}
    >
      {EXTEND_CHOICES.map((choice, i) => (
        <button
          key={choice.seconds}
          ref={i === 0 ? first : undefined}
          type="button"
          className="jp-Button jp-mod-styled jp-mod-accept"
          disabled={props.busy}
          onClick={() => props.onChoose(choice)}
        >
          {choice.label}
        </button>
      ))}
      <button
        type="button"
        className="jp-CloudTTY-icon-button"
        aria-label="Cancel"
        title="Cancel"
        onClick={props.onClose}
      >
        ×
      </button>
    </div>
  );
}

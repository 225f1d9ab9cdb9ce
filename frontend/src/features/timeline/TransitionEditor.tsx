import { useId } from "react";
import { TRANSITION_KINDS, type Transition, type TransitionKind } from "../../api/types";
import { FieldError } from "../../components/FieldError";

export const MAX_TRANSITION_SECONDS = 5;
export const DEFAULT_TRANSITION_SECONDS = 0.5;

export const TRANSITION_LABELS: Record<TransitionKind, string> = {
  cut: "Cut",
  crossfade: "Crossfade",
  fade_black: "Fade through black",
  wipe_left: "Wipe left",
  wipe_right: "Wipe right",
};

/** What the editor holds: "" is "no transition of its own" (null); the duration as typed. */
export interface TransitionDraft {
  kind: TransitionKind | "";
  duration: string;
}

export function transitionDraftOf(value: Transition | null): TransitionDraft {
  return value ? { kind: value.kind, duration: String(value.duration) } : { kind: "", duration: "" };
}

export function transitionFromDraft(draft: TransitionDraft): Transition | null {
  if (draft.kind === "") return null;
  const duration = draft.duration.trim() === "" ? DEFAULT_TRANSITION_SECONDS : Number(draft.duration);
  return { kind: draft.kind, duration };
}

/** The duration's problem, if any (the API takes 0 to 5 seconds). */
export function validateTransition(draft: TransitionDraft): string | undefined {
  if (draft.kind === "" || draft.duration.trim() === "") return undefined;
  const duration = Number(draft.duration);
  if (!Number.isFinite(duration) || duration < 0 || duration > MAX_TRANSITION_SECONDS)
    return `Between 0 and ${MAX_TRANSITION_SECONDS} s`;
  return undefined;
}

/** A short description for badges and titles: "Crossfade 0.5 s". */
export function describeTransition(value: Transition): string {
  return value.kind === "cut" ? TRANSITION_LABELS.cut : `${TRANSITION_LABELS[value.kind]} ${value.duration} s`;
}

export interface TransitionEditorProps {
  label: string;
  /** What "no transition of its own" means here: "Project default", "None (cut)". */
  nullLabel: string;
  value: TransitionDraft;
  onChange: (next: TransitionDraft) => void;
  /** Server messages for the whole transition, its kind or its duration. */
  error?: string | undefined;
  durationError?: string | undefined;
  disabled?: boolean;
}

/** Kind and duration of a transition, or none (null). */
export function TransitionEditor({
  label,
  nullLabel,
  value,
  onChange,
  error,
  durationError,
  disabled = false,
}: TransitionEditorProps) {
  const id = useId();
  const durationMessage = durationError ?? validateTransition(value);
  const hasDuration = value.kind !== "" && value.kind !== "cut";

  const changeKind = (kind: TransitionKind | "") => {
    const duration =
      kind === "" ? "" : value.duration.trim() === "" ? String(DEFAULT_TRANSITION_SECONDS) : value.duration;
    onChange({ kind, duration });
  };

  return (
    <div className="row gap transition-editor">
      <div className="field">
        <label htmlFor={`${id}-kind`}>{label}</label>
        <select
          id={`${id}-kind`}
          value={value.kind}
          disabled={disabled}
          onChange={(e) => changeKind(e.target.value as TransitionKind | "")}
          aria-invalid={error ? true : undefined}
        >
          <option value="">{nullLabel}</option>
          {TRANSITION_KINDS.map((kind) => (
            <option key={kind} value={kind}>
              {TRANSITION_LABELS[kind]}
            </option>
          ))}
        </select>
        <FieldError message={error} />
      </div>
      {hasDuration && (
        <div className="field narrow">
          <label htmlFor={`${id}-duration`}>Transition length (s)</label>
          <input
            id={`${id}-duration`}
            type="number"
            min={0}
            max={MAX_TRANSITION_SECONDS}
            step={0.1}
            value={value.duration}
            disabled={disabled}
            onChange={(e) => onChange({ ...value, duration: e.target.value })}
            aria-invalid={durationMessage ? true : undefined}
          />
          <FieldError message={durationMessage} />
        </div>
      )}
    </div>
  );
}

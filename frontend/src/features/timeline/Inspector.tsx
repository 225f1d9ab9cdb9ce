import { type FormEvent, useEffect, useId, useMemo, useState } from "react";
import { asTransition, type ModelInfo, type Segment, type SegmentUpdate } from "../../api/types";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { FieldError } from "../../components/FieldError";
import { formatCost } from "../../components/format";
import { AssetUpload } from "../assets/AssetUpload";
import { useAsset } from "../assets/useAsset";
import type { SaveState } from "./autosave";
import { ParamsForm } from "./ParamsForm";
import { fieldsFromSchema, validateParams } from "./paramsSchema";
import { SaveStatus, SegmentStateBadge } from "./SegmentState";
import {
  type TransitionDraft,
  TransitionEditor,
  transitionDraftOf,
  transitionFromDraft,
  validateTransition,
} from "./TransitionEditor";

export const MAX_SEED = 2 ** 31 - 1;
export const MAX_CAPTION_LENGTH = 500;

export function randomSeed(): number {
  return Math.floor(Math.random() * MAX_SEED);
}

interface Draft {
  prompt: string;
  negative_prompt: string;
  model: string;
  duration: string;
  seed: string;
  params: Record<string, unknown>;
  caption: string;
  burn_caption: boolean;
  transition: TransitionDraft;
  init_image_asset_id: string | null;
  continue_from_previous: boolean;
}

function draftOf(segment: Segment): Draft {
  return {
    prompt: segment.prompt,
    negative_prompt: segment.negative_prompt ?? "",
    model: segment.model,
    duration: String(segment.duration),
    seed: segment.seed === null || segment.seed === undefined ? "" : String(segment.seed),
    params: { ...(segment.params ?? {}) },
    caption: segment.caption ?? "",
    burn_caption: segment.burn_caption ?? false,
    transition: transitionDraftOf(asTransition(segment.transition)),
    init_image_asset_id: segment.init_image_asset_id ?? null,
    continue_from_previous: segment.continue_from_previous ?? false,
  };
}

function stableJson(value: unknown): string {
  if (value === null || typeof value !== "object") return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(",")}}`;
}

/** The fields of `draft` that differ from `segment`, as an update body. */
export function diffDraft(segment: Segment, draft: Draft): SegmentUpdate {
  const patch: SegmentUpdate = {};
  if (draft.prompt !== segment.prompt) patch.prompt = draft.prompt;
  const negative = draft.negative_prompt.trim() === "" ? null : draft.negative_prompt;
  if (negative !== (segment.negative_prompt ?? null)) patch.negative_prompt = negative;
  if (draft.model !== segment.model) patch.model = draft.model;
  const duration = Number(draft.duration);
  if (duration !== segment.duration) patch.duration = duration;
  const seed = draft.seed.trim() === "" ? null : Number(draft.seed);
  if (seed !== (segment.seed ?? null)) patch.seed = seed;
  if (stableJson(draft.params) !== stableJson(segment.params ?? {})) patch.params = draft.params;
  const caption = draft.caption.trim() === "" ? null : draft.caption;
  if (caption !== (segment.caption ?? null)) patch.caption = caption;
  if (draft.burn_caption !== (segment.burn_caption ?? false)) patch.burn_caption = draft.burn_caption;
  const transition = transitionFromDraft(draft.transition);
  if (stableJson(transition) !== stableJson(asTransition(segment.transition))) patch.transition = transition;
  if (draft.init_image_asset_id !== (segment.init_image_asset_id ?? null))
    patch.init_image_asset_id = draft.init_image_asset_id;
  if (draft.continue_from_previous !== (segment.continue_from_previous ?? false))
    patch.continue_from_previous = draft.continue_from_previous;
  return patch;
}

export function validateDraft(draft: Draft, model: ModelInfo | undefined): Record<string, string> {
  const errors: Record<string, string> = {};
  if (draft.prompt.trim() === "") errors.prompt = "Describe the shot";
  else if (model && model.max_prompt_length > 0 && draft.prompt.length > model.max_prompt_length)
    errors.prompt = `At most ${model.max_prompt_length} characters for ${model.label}`;
  const duration = Number(draft.duration);
  if (draft.duration.trim() === "" || !Number.isFinite(duration) || duration <= 0)
    errors.duration = "A positive number of seconds";
  else if (model?.durations && model.durations.length > 0 && !model.durations.includes(duration))
    errors.duration = `${model.label} supports ${model.durations.join(", ")} s`;
  else if (model && (duration < model.min_duration || duration > model.max_duration))
    errors.duration = `Between ${model.min_duration} and ${model.max_duration} s for ${model.label}`;
  if (draft.seed.trim() !== "") {
    const seed = Number(draft.seed);
    if (!Number.isInteger(seed) || seed < 0) errors.seed = "A whole number ≥ 0";
  }
  if (draft.caption.length > MAX_CAPTION_LENGTH) errors.caption = `At most ${MAX_CAPTION_LENGTH} characters`;
  const transitionError = validateTransition(draft.transition);
  if (transitionError) errors["transition.duration"] = transitionError;
  if (model) {
    const { fields } = fieldsFromSchema(model.params_schema);
    for (const [name, msg] of Object.entries(validateParams(fields, draft.params))) errors[`params.${name}`] = msg;
  }
  return errors;
}

/** Fields the form shows server errors next to; any other field's error is listed at the end. */
const OWN_FIELDS = [
  "prompt",
  "negative_prompt",
  "model",
  "duration",
  "seed",
  "params",
  "caption",
  "transition",
  "init_image_asset_id",
  "continue_from_previous",
];

export interface InspectorProps {
  segment: Segment;
  models: ModelInfo[];
  /** Autosave state of this segment (absent: saved). */
  saveState?: SaveState | undefined;
  /** Every valid change, as it is made; the caller saves it (debounced). */
  onEdit: (patch: SegmentUpdate) => void;
  onRetry?: () => void;
  onKeepMine?: () => void;
  onTakeTheirs?: () => void;
  onDuplicate: () => void;
  onDelete: () => Promise<boolean>;
}

/** Edits one segment, saving as the user types. Keyed by segment id and a revision bumped when
 * the segment changes from elsewhere (undo, a conflict resolved), which starts it afresh. */
export function Inspector({
  segment,
  models,
  saveState,
  onEdit,
  onRetry,
  onKeepMine,
  onTakeTheirs,
  onDuplicate,
  onDelete,
}: InspectorProps) {
  const serverErrors = saveState?.fieldErrors ?? {};
  const [draft, setDraft] = useState<Draft>(() => draftOf(segment));
  const [touched, setTouched] = useState(false);
  const [confirmDelete, setConfirmDelete] = useState(false);
  const id = useId();
  const model = models.find((m) => m.id === draft.model);
  const patch = useMemo(() => diffDraft(segment, draft), [segment, draft]);
  const dirty = Object.keys(patch).length > 0;
  const localErrors = useMemo(() => validateDraft(draft, model), [draft, model]);
  // Local checks speak once the user has changed something or tried to save; the server's after.
  const showLocal = touched || dirty;
  const errorFor = (field: string): string | undefined =>
    (showLocal ? localErrors[field] : undefined) ?? serverErrors[field];

  const paramErrors: Record<string, string> = {};
  for (const [key, msg] of Object.entries({ ...serverErrors, ...(showLocal ? localErrors : {}) })) {
    if (key.startsWith("params.")) paramErrors[key.slice("params.".length)] = msg;
  }
  const generalParamsError = serverErrors.params;
  const otherServerErrors = Object.entries(serverErrors).filter(
    ([key]) => !OWN_FIELDS.includes(key) && !key.startsWith("params.") && !key.startsWith("transition."),
  );
  const initImage = useAsset(draft.init_image_asset_id);

  const update = (next: Partial<Draft>) => setDraft((d) => ({ ...d, ...next }));

  const changeModel = (modelId: string) => {
    const next = models.find((m) => m.id === modelId);
    if (!next) {
      update({ model: modelId });
      return;
    }
    // Keep only params the new model understands, and a duration it accepts.
    const names = new Set(fieldsFromSchema(next.params_schema).fields.map((f) => f.name));
    const params = Object.fromEntries(Object.entries(draft.params).filter(([k]) => names.has(k)));
    let duration = Number(draft.duration);
    if (next.durations && next.durations.length > 0) {
      if (!next.durations.includes(duration)) duration = next.durations[0] ?? duration;
    } else if (Number.isFinite(duration)) {
      duration = Math.min(Math.max(duration, next.min_duration), next.max_duration);
    }
    update({ model: modelId, params, duration: String(duration) });
  };

  const valid = Object.keys(localErrors).length === 0;
  // Autosave: a valid change goes to the caller at once; an invalid one waits, shown, until fixed.
  useEffect(() => {
    if (dirty && valid) onEdit(patch);
  }, [patch, dirty, valid, onEdit]);

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    setTouched(true);
    if (dirty && valid) onEdit(patch);
  };

  const modelMissing = !models.some((m) => m.id === draft.model);
  const estimate = model ? model.price_per_second * Number(draft.duration || 0) : null;

  return (
    <form className="inspector" onSubmit={onSubmit} aria-label="Segment inspector" noValidate>
      <div className="row between">
        <h3>Segment {segment.position + 1}</h3>
        <span className="row gap">
          <SegmentStateBadge segment={segment} />
          <SaveStatus
            state={dirty && !valid ? { status: "error", error: "fix the fields below" } : saveState}
            {...(onRetry ? { onRetry } : {})}
          />
        </span>
      </div>
      {segment.state === "failed" && segment.state_error && (
        <p className="field-error" data-testid="segment-failure">
          Last render failed: {segment.state_error}
        </p>
      )}
      {saveState?.status === "conflict" && (
        <div className="banner banner-error conflict" role="alert" data-testid="save-conflict">
          <p>
            <strong>This segment was changed elsewhere</strong> (another tab or person) since you started editing. Your
            edit is kept here, not saved.
          </p>
          {saveState.theirs && (
            <p className="small" data-testid="their-version">
              Now on the server: “{saveState.theirs.prompt}” · {saveState.theirs.model} · {saveState.theirs.duration} s
              · seed {saveState.theirs.seed}
            </p>
          )}
          <div className="row gap">
            <button type="button" className="primary small" onClick={onKeepMine}>
              Keep mine
            </button>
            <button type="button" className="small" onClick={onTakeTheirs}>
              Use theirs
            </button>
          </div>
        </div>
      )}

      {segment.poster_url && <img className="inspector-poster" src={segment.poster_url} alt="Segment poster" />}

      <div className="field">
        <label htmlFor={`${id}-prompt`}>Prompt</label>
        <textarea
          id={`${id}-prompt`}
          name="prompt"
          rows={3}
          value={draft.prompt}
          onChange={(e) => update({ prompt: e.target.value })}
          aria-invalid={errorFor("prompt") ? true : undefined}
        />
        {model && model.max_prompt_length > 0 && (
          <small className={draft.prompt.length > model.max_prompt_length ? "field-error" : "muted"}>
            {draft.prompt.length}/{model.max_prompt_length}
          </small>
        )}
        <FieldError message={errorFor("prompt")} />
      </div>

      <div className="field">
        <label htmlFor={`${id}-negative`}>Negative prompt</label>
        <textarea
          id={`${id}-negative`}
          name="negative_prompt"
          rows={2}
          value={draft.negative_prompt}
          onChange={(e) => update({ negative_prompt: e.target.value })}
        />
        <FieldError message={errorFor("negative_prompt")} />
      </div>

      <div className="field">
        <label htmlFor={`${id}-model`}>Model</label>
        <select
          id={`${id}-model`}
          name="model"
          value={draft.model}
          onChange={(e) => changeModel(e.target.value)}
          aria-invalid={errorFor("model") ? true : undefined}
        >
          {modelMissing && <option value={draft.model}>{draft.model} (unknown)</option>}
          {models.map((m) => (
            <option
              key={m.id}
              value={m.id}
              disabled={!m.available}
              title={!m.available ? (m.unavailable_reason ?? "Unavailable") : (m.deprecated ?? undefined)}
            >
              {m.label}
              {!m.available ? " (unavailable)" : m.deprecated ? " (deprecated)" : ""}
              {m.price_per_second > 0 ? ` · ${formatCost(m.price_per_second)}/s` : ""}
            </option>
          ))}
        </select>
        {model?.deprecated && <small className="muted">{model.deprecated}</small>}
        {model && !model.available && (
          <small className="field-error">{model.unavailable_reason ?? "This model is unavailable."}</small>
        )}
        <FieldError message={errorFor("model")} />
      </div>

      <div className="row gap duration-seed">
        <div className="field">
          <label htmlFor={`${id}-duration`}>Duration (s)</label>
          {model?.durations && model.durations.length > 0 ? (
            <select
              id={`${id}-duration`}
              name="duration"
              value={draft.duration}
              onChange={(e) => update({ duration: e.target.value })}
            >
              {!model.durations.includes(Number(draft.duration)) && (
                <option value={draft.duration}>{draft.duration}</option>
              )}
              {model.durations.map((d) => (
                <option key={d} value={String(d)}>
                  {d}
                </option>
              ))}
            </select>
          ) : (
            <input
              id={`${id}-duration`}
              name="duration"
              type="number"
              min={model?.min_duration}
              max={model?.max_duration}
              step="any"
              value={draft.duration}
              onChange={(e) => update({ duration: e.target.value })}
              aria-invalid={errorFor("duration") ? true : undefined}
            />
          )}
          <FieldError message={errorFor("duration")} />
        </div>

        <div className="field">
          <label htmlFor={`${id}-seed`}>Seed</label>
          <div className="row">
            <input
              id={`${id}-seed`}
              name="seed"
              type="number"
              min={0}
              step={1}
              placeholder="random"
              value={draft.seed}
              onChange={(e) => update({ seed: e.target.value })}
              aria-invalid={errorFor("seed") ? true : undefined}
            />
            <button type="button" onClick={() => update({ seed: String(randomSeed()) })} title="Draw a new random seed">
              New seed
            </button>
          </div>
          <FieldError message={errorFor("seed")} />
        </div>
      </div>

      <ParamsForm
        schema={model?.params_schema}
        value={draft.params}
        onChange={(params) => update({ params })}
        errors={paramErrors}
      />
      <FieldError message={generalParamsError} />

      <div className="field">
        <label htmlFor={`${id}-caption`}>Caption</label>
        <textarea
          id={`${id}-caption`}
          name="caption"
          rows={2}
          placeholder="Subtitle shown while this segment plays"
          value={draft.caption}
          onChange={(e) => update({ caption: e.target.value })}
          aria-invalid={errorFor("caption") ? true : undefined}
        />
        {draft.caption.length > 0 && (
          <small className={draft.caption.length > MAX_CAPTION_LENGTH ? "field-error" : "muted"}>
            {draft.caption.length}/{MAX_CAPTION_LENGTH}
          </small>
        )}
        <FieldError message={errorFor("caption")} />
        <label className="checkbox">
          <input
            type="checkbox"
            name="burn_caption"
            checked={draft.burn_caption}
            onChange={(e) => update({ burn_caption: e.target.checked })}
          />{" "}
          Burn into the picture (re-encodes only this segment)
        </label>
      </div>

      <TransitionEditor
        label="Transition into next"
        nullLabel="Project default"
        value={draft.transition}
        onChange={(transition) => update({ transition })}
        error={serverErrors.transition ?? serverErrors["transition.kind"]}
        durationError={errorFor("transition.duration")}
      />

      <div className="field">
        <label className="checkbox">
          <input
            type="checkbox"
            name="continue_from_previous"
            checked={draft.continue_from_previous}
            disabled={segment.position === 0 && !draft.continue_from_previous}
            onChange={(e) => update({ continue_from_previous: e.target.checked })}
          />{" "}
          Continue from the previous shot (starts on its last frame)
        </label>
        {segment.position === 0 && <small className="muted">The first segment has no previous shot to continue.</small>}
        {draft.continue_from_previous && model && !model.image_to_video && (
          <small className="field-error">{model.label} cannot start from a frame: pick an image-to-video model.</small>
        )}
        {draft.continue_from_previous && draft.init_image_asset_id && (
          <small className="field-error">A continued shot starts from the previous frame: remove the init image.</small>
        )}
        <FieldError message={errorFor("continue_from_previous")} />
      </div>

      <div className="field init-image">
        <span className="label">Init image</span>
        {draft.init_image_asset_id ? (
          <div className="row gap">
            {initImage.asset?.url ? (
              <img
                className="init-image-preview"
                src={initImage.asset.url}
                alt="First frame the model starts from"
                data-testid="init-image-preview"
              />
            ) : (
              <span className="muted small">{initImage.loading ? "Loading…" : (initImage.error ?? "")}</span>
            )}
            <button type="button" onClick={() => update({ init_image_asset_id: null })}>
              Remove image
            </button>
          </div>
        ) : draft.continue_from_previous ? (
          <small className="muted">The previous shot's last frame.</small>
        ) : model && !model.text_to_video ? (
          <small className="field-error">{model.label} needs an image: upload one or continue the previous shot.</small>
        ) : (
          <small className="muted">None: the model starts from the prompt alone.</small>
        )}
        {draft.init_image_asset_id && model && !model.image_to_video && (
          <small className="muted">{model.label} does not use an init image.</small>
        )}
        <FieldError message={errorFor("init_image_asset_id")} />
      </div>
      <AssetUpload
        kind="image"
        label={
          draft.init_image_asset_id ? "Replace init image (PNG, JPEG, WebP)" : "Upload init image (PNG, JPEG, WebP)"
        }
        onUploaded={(asset) => update({ init_image_asset_id: asset.id })}
      />
      {otherServerErrors.map(([key, msg]) => (
        <FieldError key={key} message={`${key}: ${msg}`} />
      ))}

      {estimate !== null && estimate > 0 && (
        <p className="muted small">Estimated cost if generated: {formatCost(estimate)}</p>
      )}

      <div className="row gap wrap">
        <span className="muted small">Changes save by themselves; Ctrl+Z undoes them.</span>
        <span className="spacer" />
        <button type="button" onClick={onDuplicate}>
          Duplicate
        </button>
        <button type="button" className="danger" onClick={() => setConfirmDelete(true)}>
          Delete
        </button>
      </div>

      {confirmDelete && (
        <ConfirmDialog
          title="Delete segment?"
          message={`Segment ${segment.position + 1} (“${segment.prompt.slice(0, 60)}”) will be removed from the timeline.`}
          onCancel={() => setConfirmDelete(false)}
          onConfirm={async () => {
            setConfirmDelete(false);
            await onDelete();
          }}
        />
      )}
    </form>
  );
}

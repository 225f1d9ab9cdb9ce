import { useMutation } from "@tanstack/react-query";
import { type FormEvent, useState } from "react";
import { ApiError, errorMessage } from "../../api/client";
import { asTransition, type Project, type ProjectUpdate } from "../../api/types";
import { FieldError } from "../../components/FieldError";
import { formatSeconds } from "../../components/format";
import { AssetUpload } from "../assets/AssetUpload";
import { useAsset } from "../assets/useAsset";
import { SIZE_PRESETS } from "../projects/queries";
import { TransitionEditor, transitionDraftOf, transitionFromDraft, validateTransition } from "./TransitionEditor";

function sameTransition(a: unknown, b: unknown): boolean {
  const x = asTransition(a);
  const y = asTransition(b);
  return x === null || y === null ? x === y : x.kind === y.kind && x.duration === y.duration;
}

/** What a refused save shows: a 422's messages by field, anything else under the form ("_"). */
export function settingsErrors(err: unknown): Record<string, string> {
  if (err instanceof ApiError && err.status === 412) {
    return { _: "These settings were changed elsewhere meanwhile; they are reloaded, check and save again." };
  }
  if (err instanceof ApiError && Object.keys(err.fieldErrors).length > 0) return err.fieldErrors;
  return { _: errorMessage(err) };
}

/** Inline form to rename the project, change its output format, default transition and soundtrack. */
export function ProjectSettings({
  project,
  onSave,
  onClose,
}: {
  project: Project;
  /** Rejects as the server refuses (a 422 with its field errors). */
  onSave: (patch: ProjectUpdate) => Promise<unknown>;
  onClose: () => void;
}) {
  const presetIndex = SIZE_PRESETS.findIndex((p) => p.width === project.width && p.height === project.height);
  const [name, setName] = useState(project.name);
  const [preset, setPreset] = useState(presetIndex);
  const [fps, setFps] = useState(String(project.fps));
  const [transition, setTransition] = useState(() => transitionDraftOf(asTransition(project.default_transition)));
  const [soundtrackId, setSoundtrackId] = useState<string | null>(project.soundtrack_asset_id ?? null);
  const soundtrack = useAsset(soundtrackId);
  const [localErrors, setLocalErrors] = useState<Record<string, string>>({});
  const save = useMutation({ mutationFn: (patch: ProjectUpdate) => onSave(patch), onSuccess: () => onClose() });
  const busy = save.isPending;
  const errors = save.error ? settingsErrors(save.error) : localErrors;

  const onSubmit = (e: FormEvent) => {
    e.preventDefault();
    const local: Record<string, string> = {};
    if (!name.trim()) local.name = "Give the project a name";
    const fpsValue = Number(fps);
    if (!Number.isInteger(fpsValue) || fpsValue < 1 || fpsValue > 60) local.fps = "Whole number from 1 to 60";
    const transitionError = validateTransition(transition);
    if (transitionError) local["default_transition.duration"] = transitionError;
    setLocalErrors(local);
    if (Object.keys(local).length > 0) {
      save.reset();
      return;
    }
    const size = SIZE_PRESETS[preset] ?? { width: project.width, height: project.height };
    const patch: ProjectUpdate = { name: name.trim(), width: size.width, height: size.height, fps: fpsValue };
    const defaultTransition = transitionFromDraft(transition);
    if (!sameTransition(defaultTransition, project.default_transition)) patch.default_transition = defaultTransition;
    if (soundtrackId !== (project.soundtrack_asset_id ?? null)) patch.soundtrack_asset_id = soundtrackId;
    save.mutate(patch);
  };

  return (
    <form className="project-settings row gap wrap" onSubmit={onSubmit} aria-label="Project settings" noValidate>
      <div className="field">
        <label htmlFor="settings-name">Name</label>
        <input id="settings-name" value={name} maxLength={200} onChange={(e) => setName(e.target.value)} />
        <FieldError message={errors.name} />
      </div>
      <div className="field">
        <label htmlFor="settings-size">Output size</label>
        <select id="settings-size" value={preset} onChange={(e) => setPreset(Number(e.target.value))}>
          {preset < 0 && (
            <option value={-1}>
              {project.width}×{project.height} (custom)
            </option>
          )}
          {SIZE_PRESETS.map((p, i) => (
            <option key={p.label} value={i}>
              {p.label}
            </option>
          ))}
        </select>
        <FieldError message={errors.width ?? errors.height} />
      </div>
      <div className="field narrow">
        <label htmlFor="settings-fps">FPS</label>
        <input
          id="settings-fps"
          type="number"
          min={1}
          max={60}
          step={1}
          value={fps}
          onChange={(e) => setFps(e.target.value)}
        />
        <FieldError message={errors.fps} />
      </div>
      <TransitionEditor
        label="Default transition"
        nullLabel="None (hard cut)"
        value={transition}
        onChange={setTransition}
        error={errors.default_transition ?? errors["default_transition.kind"]}
        durationError={errors["default_transition.duration"]}
        disabled={busy}
      />
      <div className="field soundtrack" data-testid="soundtrack">
        <span className="label">Soundtrack</span>
        {soundtrackId ? (
          <div className="row gap">
            <span className="small">
              {soundtrack.asset
                ? `♪ Audio, ${soundtrack.asset.duration !== null ? formatSeconds(soundtrack.asset.duration) : "length unknown"}`
                : soundtrack.loading
                  ? "Loading…"
                  : (soundtrack.error ?? "")}
            </span>
            <button type="button" className="small" onClick={() => setSoundtrackId(null)} disabled={busy}>
              Remove soundtrack
            </button>
          </div>
        ) : (
          <small className="muted">None</small>
        )}
        <FieldError message={errors.soundtrack_asset_id} />
      </div>
      <AssetUpload
        kind="audio"
        label={soundtrackId ? "Replace soundtrack" : "Upload soundtrack"}
        onUploaded={(asset) => setSoundtrackId(asset.id)}
        disabled={busy}
      />
      <div className="row gap">
        <button type="submit" className="primary" disabled={busy}>
          Save
        </button>
        <button type="button" onClick={onClose} disabled={busy}>
          Cancel
        </button>
      </div>
      <FieldError message={errors._} />
    </form>
  );
}

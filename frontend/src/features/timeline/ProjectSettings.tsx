import { type FormEvent, useState } from "react";
import type { Project } from "../../api/types";
import { FieldError } from "../../components/FieldError";
import { SIZE_PRESETS } from "../projects/slice";

/** Inline form to rename the project or change its output format. */
export function ProjectSettings({
  project,
  onSave,
  onClose,
}: {
  project: Project;
  onSave: (patch: { name: string; width: number; height: number; fps: number }) => Promise<Record<string, string>>;
  onClose: () => void;
}) {
  const presetIndex = SIZE_PRESETS.findIndex((p) => p.width === project.width && p.height === project.height);
  const [name, setName] = useState(project.name);
  const [preset, setPreset] = useState(presetIndex);
  const [fps, setFps] = useState(String(project.fps));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [busy, setBusy] = useState(false);

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault();
    const local: Record<string, string> = {};
    if (!name.trim()) local.name = "Give the project a name";
    const fpsValue = Number(fps);
    if (!Number.isInteger(fpsValue) || fpsValue < 1 || fpsValue > 60) local.fps = "Whole number from 1 to 60";
    setErrors(local);
    if (Object.keys(local).length > 0) return;
    const size = SIZE_PRESETS[preset] ?? { width: project.width, height: project.height };
    setBusy(true);
    const result = await onSave({ name: name.trim(), width: size.width, height: size.height, fps: fpsValue });
    setBusy(false);
    setErrors(result);
    if (Object.keys(result).length === 0) onClose();
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

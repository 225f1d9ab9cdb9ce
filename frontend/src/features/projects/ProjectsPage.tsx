import { type FormEvent, useEffect, useState } from "react";
import { ApiError, errorMessage } from "../../api/client";
import type { ProjectCard } from "../../api/types";
import { ConfirmDialog } from "../../components/ConfirmDialog";
import { ErrorBanner } from "../../components/ErrorBanner";
import { FieldError } from "../../components/FieldError";
import { formatDate, formatSeconds } from "../../components/format";
import { navigate } from "../../components/router";
import {
  lastPageOffset,
  PROJECTS_PAGE_SIZE,
  SIZE_PRESETS,
  useCreateProject,
  useDeleteProject,
  useProjectsPage,
} from "./queries";

export function ProjectsPage() {
  const [offset, setOffset] = useState(0);
  const page = useProjectsPage(offset);
  const remove = useDeleteProject();
  const [toDelete, setToDelete] = useState<ProjectCard | null>(null);
  const projects = page.data?.items ?? [];
  const total = page.data?.total ?? 0;
  const loading = page.isFetching && !page.data;

  // Deleting the last item of the last page leaves an empty page: step back to one with items.
  useEffect(() => {
    if (page.data && page.data.items.length === 0 && offset > 0 && page.data.total > 0) {
      setOffset(lastPageOffset(page.data.total));
    }
  }, [page.data, offset]);

  const from = total === 0 ? 0 : offset + 1;
  const to = Math.min(offset + projects.length, total);
  const error = page.error
    ? errorMessage(page.error)
    : remove.error
      ? `Could not delete the project: ${errorMessage(remove.error)}`
      : null;

  return (
    <main className="page projects-page">
      <section className="card">
        <h2>New project</h2>
        <CreateProjectForm />
      </section>

      <section className="card">
        <div className="row between">
          <h2>Projects</h2>
          <span className="muted">{loading ? "Loading…" : `${from}–${to} of ${total}`}</span>
        </div>
        <ErrorBanner message={error} />
        {projects.length === 0 && !loading ? (
          <p className="muted">No projects yet. Create one above.</p>
        ) : (
          <ul className="project-list">
            {projects.map((p) => (
              <li key={p.id} className="project-item">
                <a
                  href={`/projects/${encodeURIComponent(p.id)}`}
                  className="project-link"
                  onClick={(e) => {
                    e.preventDefault();
                    navigate(`/projects/${encodeURIComponent(p.id)}`);
                  }}
                >
                  <span className="project-poster" data-testid="project-poster">
                    {p.poster_url ? (
                      <img src={p.poster_url} alt="" loading="lazy" decoding="async" />
                    ) : (
                      <span className="muted small" aria-hidden="true">
                        Not rendered yet
                      </span>
                    )}
                  </span>
                  <span className="project-facts">
                    <strong>{p.name}</strong>
                    <span className="muted small">
                      {p.width}×{p.height} · {p.fps} fps · {p.segment_count} segment{p.segment_count === 1 ? "" : "s"} ·{" "}
                      {formatSeconds(p.total_duration)} · updated {formatDate(p.updated_at)}
                    </span>
                  </span>
                </a>
                <button
                  type="button"
                  className="danger small"
                  onClick={() => setToDelete(p)}
                  aria-label={`Delete ${p.name}`}
                >
                  Delete
                </button>
              </li>
            ))}
          </ul>
        )}
        <div className="row pager">
          <button
            type="button"
            disabled={offset === 0 || page.isFetching}
            onClick={() => setOffset(Math.max(0, offset - PROJECTS_PAGE_SIZE))}
          >
            ← Previous
          </button>
          <button
            type="button"
            disabled={offset + PROJECTS_PAGE_SIZE >= total || page.isFetching}
            onClick={() => setOffset(offset + PROJECTS_PAGE_SIZE)}
          >
            Next →
          </button>
        </div>
      </section>

      {toDelete && (
        <ConfirmDialog
          title="Delete project?"
          message={`“${toDelete.name}” and its segments and renders will be deleted. This cannot be undone.`}
          busy={remove.isPending}
          onCancel={() => setToDelete(null)}
          onConfirm={async () => {
            await remove.mutateAsync(toDelete.id).catch(() => undefined); // shown from remove.error
            setToDelete(null);
          }}
        />
      )}
    </main>
  );
}

function CreateProjectForm() {
  const create = useCreateProject();
  const errors = create.error instanceof ApiError ? create.error.fieldErrors : {};
  const [name, setName] = useState("");
  const [preset, setPreset] = useState(0);
  const [fps, setFps] = useState("24");
  const [localError, setLocalError] = useState<Record<string, string>>({});

  const onSubmit = async (e: FormEvent) => {
    e.preventDefault();
    const problems: Record<string, string> = {};
    if (!name.trim()) problems.name = "Give the project a name";
    const fpsValue = Number(fps);
    if (!Number.isInteger(fpsValue) || fpsValue < 1 || fpsValue > 60) problems.fps = "Whole number from 1 to 60";
    setLocalError(problems);
    if (Object.keys(problems).length > 0) return;
    const size = SIZE_PRESETS[preset] ?? SIZE_PRESETS[0];
    const project = await create
      .mutateAsync({ name: name.trim(), width: size.width, height: size.height, fps: fpsValue })
      .catch(() => null); // shown from create.error
    if (project) {
      setName("");
      navigate(`/projects/${encodeURIComponent(project.id)}`);
    }
  };

  const err = (field: string) => localError[field] ?? errors[field];
  return (
    <form className="create-project" onSubmit={onSubmit} aria-label="Create project" noValidate>
      <div className="field grow">
        <label htmlFor="project-name">Name</label>
        <input
          id="project-name"
          value={name}
          onChange={(e) => setName(e.target.value)}
          maxLength={200}
          aria-invalid={err("name") ? true : undefined}
        />
        <FieldError message={err("name")} />
      </div>
      <div className="field">
        <label htmlFor="project-size">Output size</label>
        <select id="project-size" value={preset} onChange={(e) => setPreset(Number(e.target.value))}>
          {SIZE_PRESETS.map((p, i) => (
            <option key={p.label} value={i}>
              {p.label}
            </option>
          ))}
        </select>
        <FieldError message={err("width") ?? err("height")} />
      </div>
      <div className="field narrow">
        <label htmlFor="project-fps">FPS</label>
        <input
          id="project-fps"
          type="number"
          min={1}
          max={60}
          step={1}
          value={fps}
          onChange={(e) => setFps(e.target.value)}
          aria-invalid={err("fps") ? true : undefined}
        />
        <FieldError message={err("fps")} />
      </div>
      {create.error && Object.keys(errors).length === 0 && <FieldError message={errorMessage(create.error)} />}
      <button type="submit" className="primary" disabled={create.isPending}>
        Create
      </button>
    </form>
  );
}

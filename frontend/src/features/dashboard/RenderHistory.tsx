import { errorMessage } from "../../api/client";
import { ErrorBanner } from "../../components/ErrorBanner";
import { formatCost, formatDate, formatSeconds } from "../../components/format";
import { StatusBadge } from "../../components/StatusBadge";
import { useAppShallow } from "../../store";
import { useRenderJobs } from "./queries";

export function RenderHistory() {
  const { projectId, activeId, showJob } = useAppShallow((s) => ({
    projectId: s.projectId,
    activeId: s.activeJobId,
    showJob: s.showJob,
  }));
  const history = useRenderJobs(projectId);
  const jobs = history.data?.items ?? [];
  const total = history.data?.total ?? 0;
  const error = history.error ? `Could not load the history: ${errorMessage(history.error)}` : null;
  return (
    <section className="card" aria-label="Render history">
      <div className="row between">
        <h2>History</h2>
        <span className="muted small">
          {jobs.length < total ? `latest ${jobs.length} of ${total}` : `${total} render${total === 1 ? "" : "s"}`}
        </span>
      </div>
      <ErrorBanner message={error} />
      {jobs.length === 0 ? (
        <p className="muted small">No renders yet.</p>
      ) : (
        <ul className="history">
          {jobs.map((job) => (
            <li key={job.id}>
              <button
                type="button"
                className={`history-item ${job.id === activeId ? "active" : ""}`}
                onClick={() => showJob(job)}
              >
                <StatusBadge status={job.status} />
                <span className="small">{formatDate(job.created_at)}</span>
                {job.kind === "variations" && <span className="muted small">new takes</span>}
                <span className="muted small">
                  {job.duration !== null ? formatSeconds(job.duration) : ""} ·{" "}
                  {formatCost(job.status === "completed" ? job.actual_cost : job.estimated_cost)}
                </span>
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

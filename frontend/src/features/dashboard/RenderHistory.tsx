import { ErrorBanner } from "../../components/ErrorBanner";
import { formatCost, formatDate, formatSeconds } from "../../components/format";
import { StatusBadge } from "../../components/StatusBadge";
import { useAppShallow } from "../../store";

export function RenderHistory() {
  const { jobs, total, error, activeId, showJob } = useAppShallow((s) => ({
    jobs: s.jobs,
    total: s.jobsTotal,
    error: s.jobsError,
    activeId: s.activeJob?.id ?? null,
    showJob: s.showJob,
  }));
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

/**
 * The user's webhooks: add one (the signing secret is shown once), send a test event, remove
 * one, and see each endpoint's recent deliveries with every attempt. Self-contained on purpose:
 * its state is local, so it does not touch the app store.
 */
import { type FormEvent, useCallback, useEffect, useState } from "react";
import { ApiError, errorMessage } from "../../api/client";
import { type Delivery, EVENT_TYPES, type Webhook, type WebhookCreated, webhooksApi } from "./api";

const REFRESH_MS = 3000;

export function WebhooksPage() {
  const [hooks, setHooks] = useState<Webhook[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [created, setCreated] = useState<WebhookCreated | null>(null);

  const reload = useCallback(async () => {
    try {
      setHooks(await webhooksApi.list());
      setError(null);
    } catch (err) {
      setError(errorMessage(err));
    }
  }, []);

  useEffect(() => {
    void reload();
  }, [reload]);

  return (
    <main className="page">
      <h1>Webhooks</h1>
      <p className="muted small">
        Signed POSTs (Standard Webhooks) when renders and segments finish. Verify the <code>webhook-signature</code>{" "}
        header with the secret shown when you add an endpoint.
      </p>
      {error && (
        <p role="alert" className="error">
          {error}
        </p>
      )}
      <AddWebhook
        onCreated={(hook) => {
          setCreated(hook);
          void reload();
        }}
      />
      {created && (
        <section className="card" aria-label="New webhook secret">
          <p>
            Signing secret for <code>{created.url}</code>, shown only now:
          </p>
          <code data-testid="webhook-secret">{created.secret}</code>
          <div>
            <button type="button" className="small" onClick={() => setCreated(null)}>
              I have saved it
            </button>
          </div>
        </section>
      )}
      {hooks === null ? (
        <p className="muted">Loading…</p>
      ) : hooks.length === 0 ? (
        <p className="muted">No webhooks yet.</p>
      ) : (
        <ul className="webhook-list">
          {hooks.map((hook) => (
            <WebhookItem key={hook.id} hook={hook} onRemoved={() => void reload()} />
          ))}
        </ul>
      )}
    </main>
  );
}

function AddWebhook({ onCreated }: { onCreated: (hook: WebhookCreated) => void }) {
  const [url, setUrl] = useState("");
  const [events, setEvents] = useState<string[]>(["render.completed", "render.failed"]);
  const [fieldErrors, setFieldErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    try {
      const hook = await webhooksApi.create(url.trim(), events);
      setUrl("");
      setFieldErrors({});
      setError(null);
      onCreated(hook);
    } catch (err) {
      if (err instanceof ApiError && Object.keys(err.fieldErrors).length > 0) {
        setFieldErrors(err.fieldErrors);
        setError(null);
      } else {
        setError(errorMessage(err));
      }
    } finally {
      setBusy(false);
    }
  }

  function toggle(type: string) {
    setEvents((current) => (current.includes(type) ? current.filter((t) => t !== type) : [...current, type]));
  }

  return (
    <form className="card" onSubmit={(e) => void submit(e)} aria-label="Add webhook">
      <label>
        Endpoint URL
        <input
          type="url"
          value={url}
          placeholder="https://example.com/hooks/video-foundry"
          onChange={(e) => setUrl(e.target.value)}
          required
        />
      </label>
      {fieldErrors.url && (
        <p role="alert" className="error small">
          {fieldErrors.url}
        </p>
      )}
      <fieldset>
        <legend>Events</legend>
        {EVENT_TYPES.map((type) => (
          <label key={type} className="row gap small">
            <input type="checkbox" checked={events.includes(type)} onChange={() => toggle(type)} />
            {type}
          </label>
        ))}
      </fieldset>
      {fieldErrors.events && (
        <p role="alert" className="error small">
          {fieldErrors.events}
        </p>
      )}
      {error && (
        <p role="alert" className="error small">
          {error}
        </p>
      )}
      <button type="submit" disabled={busy || events.length === 0}>
        Add webhook
      </button>
    </form>
  );
}

function WebhookItem({ hook, onRemoved }: { hook: Webhook; onRemoved: () => void }) {
  const [deliveries, setDeliveries] = useState<Delivery[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(async () => {
    try {
      setDeliveries(await webhooksApi.deliveries(hook.id));
    } catch (err) {
      setError(errorMessage(err));
    }
  }, [hook.id]);

  useEffect(() => {
    void load();
    // Deliveries change in the background (retries): refresh while the page is open.
    const timer = window.setInterval(() => void load(), REFRESH_MS);
    return () => window.clearInterval(timer);
  }, [load]);

  async function act(action: () => Promise<unknown>, after: () => void) {
    try {
      await action();
      setError(null);
      after();
    } catch (err) {
      setError(errorMessage(err));
    }
  }

  return (
    <li className="card" data-testid="webhook">
      <div className="row gap">
        <code>{hook.url}</code>
        <span className="muted small">{hook.events.join(", ")}</span>
        <button type="button" className="small" onClick={() => void act(() => webhooksApi.test(hook.id), load)}>
          Send test
        </button>
        <button type="button" className="small" onClick={() => void act(() => webhooksApi.remove(hook.id), onRemoved)}>
          Remove
        </button>
      </div>
      {error && (
        <p role="alert" className="error small">
          {error}
        </p>
      )}
      <DeliveryTable deliveries={deliveries} />
    </li>
  );
}

function DeliveryTable({ deliveries }: { deliveries: Delivery[] | null }) {
  if (deliveries === null) return null;
  if (deliveries.length === 0) return <p className="muted small">No deliveries yet.</p>;
  return (
    <table className="small" aria-label="Recent deliveries">
      <thead>
        <tr>
          <th>Event</th>
          <th>Status</th>
          <th>Attempts</th>
          <th>Last attempt</th>
        </tr>
      </thead>
      <tbody>
        {deliveries.slice(0, 10).map((d) => {
          const last = d.attempts[d.attempts.length - 1];
          return (
            <tr key={d.id}>
              <td>
                {d.event_type} <span className="muted">{d.event_id}</span>
              </td>
              <td>{d.status}</td>
              <td>{d.attempts.length}</td>
              <td>
                {last
                  ? `${new Date(last.at).toLocaleString()}: ${last.status_code ?? "no answer"}${last.error ? ` (${last.error})` : ""}`
                  : "not yet"}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

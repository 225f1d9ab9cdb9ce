/**
 * The user's webhooks: add one (the signing secret is shown once), send a test event, remove
 * one, and see each endpoint's recent deliveries with every attempt. Its server state is in
 * queries.ts; it does not touch the app store.
 */
import { type FormEvent, useState } from "react";
import { ApiError, errorMessage } from "../../api/client";
import { type Delivery, EVENT_TYPES, type Webhook, type WebhookCreated } from "./api";
import { useCreateWebhook, useDeliveries, useRemoveWebhook, useTestWebhook, useWebhooks } from "./queries";

export function WebhooksPage() {
  const list = useWebhooks();
  const hooks = list.data;
  const [created, setCreated] = useState<WebhookCreated | null>(null);

  return (
    <main className="page">
      <h1>Webhooks</h1>
      <p className="muted small">
        Signed POSTs (Standard Webhooks) when renders and segments finish. Verify the <code>webhook-signature</code>{" "}
        header with the secret shown when you add an endpoint.
      </p>
      {list.error && (
        <p role="alert" className="error">
          {errorMessage(list.error)}
        </p>
      )}
      <AddWebhook onCreated={setCreated} />
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
      {hooks === undefined ? (
        list.isPending && <p className="muted">Loading…</p>
      ) : hooks.length === 0 ? (
        <p className="muted">No webhooks yet.</p>
      ) : (
        <ul className="webhook-list">
          {hooks.map((hook) => (
            <WebhookItem key={hook.id} hook={hook} />
          ))}
        </ul>
      )}
    </main>
  );
}

function AddWebhook({ onCreated }: { onCreated: (hook: WebhookCreated) => void }) {
  const [url, setUrl] = useState("");
  const [events, setEvents] = useState<string[]>(["render.completed", "render.failed"]);
  const create = useCreateWebhook();
  // A 422 naming fields is shown beside them; any other refusal below the form.
  const fieldErrors = create.error instanceof ApiError ? create.error.fieldErrors : {};
  const error = create.error && Object.keys(fieldErrors).length === 0 ? errorMessage(create.error) : null;

  function submit(e: FormEvent) {
    e.preventDefault();
    create.mutate(
      { url: url.trim(), events },
      {
        onSuccess: (hook) => {
          setUrl("");
          onCreated(hook);
        },
      },
    );
  }

  function toggle(type: string) {
    setEvents((current) => (current.includes(type) ? current.filter((t) => t !== type) : [...current, type]));
  }

  return (
    <form className="card" onSubmit={submit} aria-label="Add webhook">
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
      <button type="submit" disabled={create.isPending || events.length === 0}>
        Add webhook
      </button>
    </form>
  );
}

function WebhookItem({ hook }: { hook: Webhook }) {
  const deliveries = useDeliveries(hook.id);
  const test = useTestWebhook(hook.id);
  const remove = useRemoveWebhook(hook.id);
  const failed = remove.error ?? test.error ?? deliveries.error;

  return (
    <li className="card" data-testid="webhook">
      <div className="row gap">
        <code>{hook.url}</code>
        <span className="muted small">{hook.events.join(", ")}</span>
        <button type="button" className="small" disabled={test.isPending} onClick={() => test.mutate()}>
          Send test
        </button>
        <button type="button" className="small" disabled={remove.isPending} onClick={() => remove.mutate()}>
          Remove
        </button>
      </div>
      {failed && (
        <p role="alert" className="error small">
          {errorMessage(failed)}
        </p>
      )}
      <DeliveryTable deliveries={deliveries.data} />
    </li>
  );
}

function DeliveryTable({ deliveries }: { deliveries: Delivery[] | undefined }) {
  if (deliveries === undefined) return null;
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

/** The webhooks API (POST/GET/DELETE /api/webhooks, deliveries, test) and its types. */
import { http } from "../../api/client";

export const EVENT_TYPES = [
  "render.completed",
  "render.failed",
  "render.cancelled",
  "segment.completed",
  "segment.failed",
] as const;

export type EventType = (typeof EVENT_TYPES)[number];

export interface Webhook {
  id: string;
  url: string;
  events: string[];
  created_at: string;
}

/** The answer to a registration: the only time the signing secret is shown. */
export interface WebhookCreated extends Webhook {
  secret: string;
}

export interface Attempt {
  at: string;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
}

export interface Delivery {
  id: string;
  event_id: string;
  event_type: string;
  status: "pending" | "delivered" | "failed";
  next_attempt_at: string | null;
  created_at: string;
  attempts: Attempt[];
}

const enc = encodeURIComponent;

export const webhooksApi = {
  list: () => http.get<Webhook[]>("/webhooks"),
  create: (url: string, events: string[]) => http.post<WebhookCreated>("/webhooks", { json: { url, events } }),
  remove: (id: string) => http.delete(`/webhooks/${enc(id)}`),
  deliveries: (id: string) => http.get<Delivery[]>(`/webhooks/${enc(id)}/deliveries`),
  test: (id: string) => http.post<{ delivery_id: string; event_id: string }>(`/webhooks/${enc(id)}/test`),
};

import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render as renderInto, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { configureClient } from "../../api/client";
import type { Delivery, Webhook } from "./api";
import { WebhooksPage } from "./WebhooksPage";

function render(page: React.ReactElement) {
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  return renderInto(<QueryClientProvider client={client}>{page}</QueryClientProvider>);
}

function jsonResponse(status: number, body: unknown): Response {
  return new Response(status === 204 ? null : JSON.stringify(body), {
    status,
    headers: { "Content-Type": "application/json" },
  });
}

const hook: Webhook = {
  id: "w1",
  url: "https://hooks.example.com/vf",
  events: ["render.completed"],
  created_at: "2026-12-05T18:00:00Z",
};

const delivery: Delivery = {
  id: "d1",
  event_id: "evt_1",
  event_type: "render.completed",
  status: "pending",
  next_attempt_at: "2026-12-05T18:01:00Z",
  created_at: "2026-12-05T18:00:00Z",
  attempts: [{ at: "2026-12-05T18:00:01Z", status_code: 500, error: "answered HTTP 500", duration_ms: 12 }],
};

/** A fake API: routes by method and path, records every call. */
function fakeApi(routes: Record<string, () => Response | Promise<Response>>) {
  return vi.fn<typeof fetch>(async (input, init) => {
    const key = `${init?.method ?? "GET"} ${String(input)}`;
    const route = routes[key];
    if (!route) throw new Error(`unexpected ${key}`);
    return route();
  });
}

describe("<WebhooksPage>", () => {
  beforeEach(() => configureClient({ getToken: () => "t0k" }));
  afterEach(() => {
    vi.unstubAllGlobals();
    configureClient({ getToken: () => null });
  });

  it("lists webhooks with their recent deliveries and last attempt", async () => {
    vi.stubGlobal(
      "fetch",
      fakeApi({
        "GET /api/webhooks": () => jsonResponse(200, [hook]),
        "GET /api/webhooks/w1/deliveries": () => jsonResponse(200, [delivery]),
      }),
    );
    render(<WebhooksPage />);
    const item = await screen.findByTestId("webhook");
    expect(within(item).getByText(hook.url)).toBeInTheDocument();
    const table = await within(item).findByRole("table", { name: "Recent deliveries" });
    expect(within(table).getByText("pending")).toBeInTheDocument();
    expect(within(table).getByText(/500 \(answered HTTP 500\)/)).toBeInTheDocument();
  });

  it("adds a webhook and shows its secret once", async () => {
    let listed: Webhook[] = [];
    const fetchMock = fakeApi({
      "GET /api/webhooks": () => jsonResponse(200, listed),
      "POST /api/webhooks": () => {
        listed = [hook];
        return jsonResponse(201, { ...hook, secret: "whsec_abc" });
      },
      "GET /api/webhooks/w1/deliveries": () => jsonResponse(200, []),
    });
    vi.stubGlobal("fetch", fetchMock);
    render(<WebhooksPage />);
    await screen.findByText("No webhooks yet.");
    await userEvent.type(screen.getByLabelText("Endpoint URL"), hook.url);
    await userEvent.click(screen.getByRole("button", { name: "Add webhook" }));
    expect(await screen.findByTestId("webhook-secret")).toHaveTextContent("whsec_abc");
    const post = fetchMock.mock.calls.find(([, init]) => init?.method === "POST");
    expect(JSON.parse(String(post?.[1]?.body))).toEqual({
      url: hook.url,
      events: ["render.completed", "render.failed"],
    });
    await screen.findByTestId("webhook");
  });

  it("shows the refusal of a private address next to the URL", async () => {
    vi.stubGlobal(
      "fetch",
      fakeApi({
        "GET /api/webhooks": () => jsonResponse(200, []),
        "POST /api/webhooks": () =>
          jsonResponse(422, {
            detail: [{ loc: ["body", "url"], msg: "url is not an allowed destination", type: "value_error" }],
          }),
      }),
    );
    render(<WebhooksPage />);
    await userEvent.type(screen.getByLabelText("Endpoint URL"), "http://127.0.0.1/x");
    await userEvent.click(screen.getByRole("button", { name: "Add webhook" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("url is not an allowed destination");
  });

  it("sends a test event and removes a webhook", async () => {
    let listed: Webhook[] = [hook];
    const fetchMock = fakeApi({
      "GET /api/webhooks": () => jsonResponse(200, listed),
      "GET /api/webhooks/w1/deliveries": () => jsonResponse(200, []),
      "POST /api/webhooks/w1/test": () => jsonResponse(202, { delivery_id: "d2", event_id: "evt_2" }),
      "DELETE /api/webhooks/w1": () => {
        listed = [];
        return jsonResponse(204, null);
      },
    });
    vi.stubGlobal("fetch", fetchMock);
    render(<WebhooksPage />);
    const item = await screen.findByTestId("webhook");
    await userEvent.click(within(item).getByRole("button", { name: "Send test" }));
    await vi.waitFor(() =>
      expect(
        fetchMock.mock.calls.some(([url, init]) => url === "/api/webhooks/w1/test" && init?.method === "POST"),
      ).toBe(true),
    );
    await userEvent.click(within(item).getByRole("button", { name: "Remove" }));
    await screen.findByText("No webhooks yet.");
  });

  it("says why the list could not be loaded instead of loading for ever", async () => {
    vi.stubGlobal("fetch", fakeApi({ "GET /api/webhooks": () => jsonResponse(403, { detail: "Not allowed" }) }));
    render(<WebhooksPage />);
    expect(screen.getByText("Loading…")).toBeInTheDocument();
    expect(await screen.findByRole("alert")).toHaveTextContent("Not allowed");
    expect(screen.queryByText("Loading…")).not.toBeInTheDocument();
  });

  it("keeps a webhook the server would not remove, with the reason", async () => {
    vi.stubGlobal(
      "fetch",
      fakeApi({
        "GET /api/webhooks": () => jsonResponse(200, [hook]),
        "GET /api/webhooks/w1/deliveries": () => jsonResponse(200, []),
        "DELETE /api/webhooks/w1": () => jsonResponse(409, { detail: "Deliveries are still being sent" }),
      }),
    );
    render(<WebhooksPage />);
    const item = await screen.findByTestId("webhook");
    await userEvent.click(within(item).getByRole("button", { name: "Remove" }));
    expect(await within(item).findByRole("alert")).toHaveTextContent("Deliveries are still being sent");
    expect(screen.getByTestId("webhook")).toBeInTheDocument();
  });

  it("disables Add webhook while the endpoint is being added", async () => {
    let answer: (r: Response) => void = () => undefined;
    vi.stubGlobal(
      "fetch",
      fakeApi({
        "GET /api/webhooks": () => jsonResponse(200, []),
        "POST /api/webhooks": () =>
          new Promise<Response>((resolve) => {
            answer = resolve;
          }),
      }),
    );
    render(<WebhooksPage />);
    await screen.findByText("No webhooks yet.");
    await userEvent.type(screen.getByLabelText("Endpoint URL"), hook.url);
    await userEvent.click(screen.getByRole("button", { name: "Add webhook" }));
    await vi.waitFor(() => expect(screen.getByRole("button", { name: "Add webhook" })).toBeDisabled());
    answer(jsonResponse(201, { ...hook, secret: "whsec_abc" }));
    expect(await screen.findByTestId("webhook-secret")).toHaveTextContent("whsec_abc");
    expect(screen.getByRole("button", { name: "Add webhook" })).toBeEnabled();
  });
});

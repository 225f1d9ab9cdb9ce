import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ApiError } from "../../api/client";
import { api } from "../../api/endpoints";
import { appStore } from "../../store";
import { makeModel } from "../../test/factories";
import { EditorPage } from "./EditorPage";

const initial = appStore.getState();
afterEach(() => {
  vi.restoreAllMocks();
  appStore.setState(initial, true);
});

function open(error: ApiError) {
  const load = vi.spyOn(api, "getProject").mockRejectedValue(error);
  vi.spyOn(api, "listModels").mockResolvedValue([makeModel()]);
  vi.spyOn(api, "listRenderJobs").mockResolvedValue({ items: [], total: 0, limit: 10, offset: 0 });
  const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
  render(
    <QueryClientProvider client={client}>
      <EditorPage projectId="p9" />
    </QueryClientProvider>,
  );
  return load;
}

describe("<EditorPage> loading the project", () => {
  it("says a missing project does not exist, from the query's error, without asking again", async () => {
    const load = open(new ApiError(404, "project p9 not found"));
    expect(screen.getByText("Loading…")).toBeInTheDocument();
    expect(await screen.findByRole("alert")).toHaveTextContent("This project does not exist.");
    expect(load).toHaveBeenCalledTimes(1);
  });

  it("says why any other failure happened", async () => {
    open(new ApiError(403, "Not allowed"));
    expect(await screen.findByRole("alert")).toHaveTextContent("Could not load the project: Not allowed");
  });
});

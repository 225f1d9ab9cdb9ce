import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import { api } from "../../api/endpoints";
import type { ProjectCard } from "../../api/types";
import { makeProject } from "../../test/factories";
import { ProjectsPage } from "./ProjectsPage";

afterEach(() => vi.restoreAllMocks());

function card(overrides: Partial<ProjectCard>): ProjectCard {
  return { ...makeProject(overrides), poster_url: null, ...overrides };
}

describe("<ProjectsPage> cards", () => {
  it("shows each project's poster, and a placeholder where nothing is rendered", async () => {
    const poster = "/api/files/a1?expires=99&signature=abc";
    vi.spyOn(api, "listProjects").mockResolvedValue({
      items: [card({ id: "p1", name: "Rendered", poster_url: poster }), card({ id: "p2", name: "Fresh" })],
      total: 2,
      limit: 20,
      offset: 0,
    });
    const client = new QueryClient({ defaultOptions: { queries: { retry: false } } });
    render(
      <QueryClientProvider client={client}>
        <ProjectsPage />
      </QueryClientProvider>,
    );

    const rendered = (await screen.findByText("Rendered")).closest("li") as HTMLElement;
    const image = within(rendered).getByTestId("project-poster").querySelector("img");
    expect(image?.getAttribute("src")).toBe(poster);
    const fresh = screen.getByText("Fresh").closest("li") as HTMLElement;
    expect(within(fresh).getByTestId("project-poster").querySelector("img")).toBeNull();
    expect(within(fresh).getByText("Not rendered yet")).toBeTruthy();
  });
});

/**
 * The user's webhooks as TanStack Query server state: the list, each endpoint's deliveries
 * (polled while shown, since retries change them in the background), and the mutations that
 * add, test and remove an endpoint and refresh what they change.
 */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { webhooksApi } from "./api";

const REFRESH_MS = 3000;

const WEBHOOKS = ["webhooks"] as const;
const deliveriesKey = (id: string) => [...WEBHOOKS, id, "deliveries"] as const;

export function useWebhooks() {
  return useQuery({ queryKey: WEBHOOKS, queryFn: webhooksApi.list });
}

export function useDeliveries(id: string) {
  return useQuery({
    queryKey: deliveriesKey(id),
    queryFn: () => webhooksApi.deliveries(id),
    refetchInterval: REFRESH_MS,
  });
}

export function useCreateWebhook() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ url, events }: { url: string; events: string[] }) => webhooksApi.create(url, events),
    onSuccess: () => client.invalidateQueries({ queryKey: WEBHOOKS, exact: true }),
  });
}

export function useTestWebhook(id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => webhooksApi.test(id),
    onSuccess: () => client.invalidateQueries({ queryKey: deliveriesKey(id) }),
  });
}

export function useRemoveWebhook(id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => webhooksApi.remove(id),
    onSuccess: () => client.invalidateQueries({ queryKey: WEBHOOKS, exact: true }),
  });
}

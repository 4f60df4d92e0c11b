// The run's causation tree, as `pplane trace` draws it.

import type { Schemas } from "@pplane/client";

type Event = Schemas["Event"];

export function treePrint(trace: Schemas["Trace"]): void {
  const children = new Map<string, Event[]>();
  const roots: Event[] = [];
  for (const event of trace.events) {
    if (event.causation_id) {
      children.set(event.causation_id, [...(children.get(event.causation_id) ?? []), event]);
    } else {
      roots.push(event);
    }
  }
  console.log(`trace of correlation ${trace.correlation_id}:`);
  const draw = (event: Event, prefix: string, last: boolean, top: boolean) => {
    const line = `${event.event_type}  ${event.aggregate_type.toLowerCase()} ${event.aggregate_id.slice(-8)}  ${event.actor}`;
    console.log(top ? line : `${prefix}${last ? "└─ " : "├─ "}${line}`);
    const below = children.get(event.id) ?? [];
    below.forEach((child, i) => draw(child, top ? "" : `${prefix}${last ? "   " : "│  "}`, i === below.length - 1, false));
  };
  roots.forEach((root) => draw(root, "", true, true));
}

// What a model would decide, decided by a function: the steps of a refund
// ticket and the tools each step calls (side by side).

export interface Tool {
  name: string;
  args: unknown;
  /** The tool's work; `attempt` is the step's attempt (from 1). */
  call(attempt: number): Promise<unknown>;
}

export interface Planned {
  type: string;
  tools: Tool[];
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

function tool(name: string, args: unknown, result: (attempt: number) => unknown): Tool {
  return {
    name,
    args,
    async call(attempt) {
      await pause(20);
      return result(attempt);
    },
  };
}

export const plan: Planned[] = [
  { type: "classify", tools: [tool("classifier.label", { text: "The blender arrived broken." }, () => "refund")] },
  {
    type: "research",
    tools: [
      tool("orders.lookup", { order: "O-1" }, () => ({ order: "O-1", total: 42, delivered: true })),
      tool("customers.profile", { email: "ada@example.com" }, () => ({ name: "Ada", tier: "gold" })),
      tool("kb.search", { query: "damaged on arrival" }, () => ({ policy: "refund within 30 days" })),
    ],
  },
  {
    type: "decide",
    tools: [
      // The payment gateway times out on the step's first attempt.
      tool("payments.refund", { order: "O-1", amount: 42 }, (attempt) => {
        if (attempt === 1) throw new Error("payments.refund timed out");
        return { refunded: 42 };
      }),
    ],
  },
  { type: "send_reply", tools: [tool("writer.draft", { tone: "warm" }, () => "Dear Ada, your refund of 42 is on its way.")] },
];

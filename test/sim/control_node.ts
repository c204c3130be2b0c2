/**
 * {@linkcode ControlNode}: a {@linkcode SalNode} with its control plane (a
 * {@linkcode ControlAgent}) on the simulator — the pure equivalent of a
 * `serval host`, `serval router` or `serval adhoc` process. The agent sees
 * every host event first; what it does not consume goes to the application.
 *
 * @module
 */

import { ControlAgent, type ControlAgentOptions } from "@serval/discovery";
import { SalNode, type SalNodeOptions } from "./sal_node.ts";

/** Options: a SAL node's, plus the agent's (created at {@linkcode ControlNode.start}). */
export interface ControlNodeOptions extends Omit<SalNodeOptions, "controller"> {
  readonly control: ControlAgentOptions;
}

/**
 * A SAL node with a control agent.
 *
 * @example
 * ```ts
 * import { assertEquals } from "@std/assert";
 * import { SeededRandom } from "@serval/sal";
 * import { SimNet } from "./sim_net.ts";
 * const net = new SimNet({ seed: 1 });
 * const n = new ControlNode({ name: "r", random: new SeededRandom(1), net, router: true, control: { role: "router", bootId: 7 } });
 * net.attach(net.addSegment(), net.addNode(n, "r"));
 * n.start(0);
 * assertEquals(n.agent.role, "router");
 * ```
 */
export class ControlNode extends SalNode {
  #agent: ControlAgent | undefined;
  readonly #control: ControlAgentOptions;
  #userApp: SalNodeOptions["app"];

  /** @param opts Node and agent options. */
  constructor(opts: ControlNodeOptions) {
    const userApp = opts.app;
    super({
      ...opts,
      app: (node, e, now) => {
        if (this.#agent?.handleEvent(now, e)) return;
        this.#userApp?.(node, e, now);
      },
      controller: (_node, e, now) => {
        this.#agent?.handleEvent(now, e);
      },
    });
    this.#userApp = userApp;
    this.#control = opts.control;
  }

  /** Replaces the application (the agent keeps seeing every event first). */
  setApp(app: SalNodeOptions["app"]): void {
    this.#userApp = app;
  }

  /** The agent (after {@linkcode ControlNode.start}). */
  get agent(): ControlAgent {
    if (!this.#agent) throw new RangeError(`Cannot get agent of "${this.name}": not started`);
    return this.#agent;
  }

  /** Creates and starts the agent (a fresh one each time: a restart). */
  start(now: number, overrides: Partial<ControlAgentOptions> = {}): ControlAgent {
    this.#agent = new ControlAgent(this.host, { ...this.#control, ...overrides });
    this.#agent.start(now);
    return this.#agent;
  }

  /** Stops the agent gracefully (goodbyes and withdrawals go out). */
  stop(now: number): void {
    this.#agent?.stop(now);
    this.#agent = undefined;
  }

  override pollTimeout(): number | undefined {
    const a = super.pollTimeout();
    const b = this.#agent?.pollTimeout();
    return a === undefined ? b : b === undefined ? a : Math.min(a, b);
  }

  override handleTimeout(now: number): void {
    const agent = this.#agent;
    const b = agent?.pollTimeout();
    if (agent && b !== undefined && b <= now) agent.handleTimeout(now);
    // The host's due timers, and the events the agent's sends produced.
    super.handleTimeout(now);
  }
}

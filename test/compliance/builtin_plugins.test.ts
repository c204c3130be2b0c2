import { delay, demux, drop, forward } from "@serval/sal";
import { runActionPluginSuite } from "./action_plugin.ts";

runActionPluginSuite({ name: "forward", make: (random) => forward()({ random }), targetType: "forward" });
runActionPluginSuite({ name: "forward over demux targets", make: (random) => forward()({ random }), targetType: "demux" });
runActionPluginSuite({ name: "demux", make: (random) => demux()({ random }), targetType: "demux" });
runActionPluginSuite({ name: "delay", make: (random) => delay({ capacity: 4 })({ random }), targetType: "delay" });
runActionPluginSuite({ name: "drop", make: (random) => drop()({ random }), targetType: "drop" });

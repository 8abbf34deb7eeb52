/** `npm run generate:rbac`: each component's deploy/rbac.yaml from the chart's RBAC templates. */
import { writeRbacFiles } from "../rbac.ts";

for (const file of await writeRbacFiles()) console.log(`wrote ${file}`);

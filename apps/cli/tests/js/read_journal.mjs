// Print the scores of every reading in an automerge file, as JSON:
// node read_journal.mjs FILE  ->  {"<reading id>": {"<area>": {"client": 4, ...}}}
import * as Automerge from "@automerge/automerge";
import { readFileSync } from "node:fs";

const doc = Automerge.load(new Uint8Array(readFileSync(process.argv[2])));
const out = {};
for (const [id, reading] of Object.entries(doc.readings ?? {})) {
  out[id] = {};
  for (const [area, cell] of Object.entries(reading.scores ?? {})) {
    out[id][area] = { ...cell };
  }
}
console.log(JSON.stringify(out));

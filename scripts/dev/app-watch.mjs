// DEV ONLY: rebuilds the SvelteKit app when its SOURCE changes, one build at a time. It never watches the
// build's own output (vite build --watch did, and rebuilt in a loop), so the HTML the Worker renders under
// wrangler dev and the client chunks the browser loads come from the same build.
import { spawn } from "node:child_process";
import { existsSync, watch } from "node:fs";

const sources = ["app/src", "contracts/src", "app/svelte.config.js", "app/vite.config.ts"].filter((p) => existsSync(p));
let timer;
let building = false;
let again = false;

function build() {
  if (building) return void (again = true);
  building = true;
  const started = Date.now();
  const child = spawn("vite", ["build", "--logLevel", "error"], { cwd: "app", stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  child.on("exit", (code) => {
    building = false;
    console.log(code === 0 ? `[app] rebuilt in ${Date.now() - started} ms` : `[app] build failed (the last good build keeps serving):\n${out.slice(-4000)}`);
    if (again) {
      again = false;
      build();
    }
  });
}

for (const path of sources)
  watch(path, { recursive: true }, (_event, file) => {
    // Editors' swap and backup files are not source.
    if (file && /(^|\/)\.|~$|\.swp$/.test(String(file))) return;
    clearTimeout(timer);
    timer = setTimeout(build, 300);
  });
console.log(`[app] watching ${sources.join(", ")} for edits`);

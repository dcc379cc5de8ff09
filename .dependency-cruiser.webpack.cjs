// Only for dependency-cruiser: SvelteKit's `$lib` alias (app/svelte.config.js's default), so the app's own
// imports resolve and take part in the cycle check. `$app/*` are SvelteKit's virtual modules (left unresolved).
const path = require("node:path");
module.exports = { resolve: { alias: { $lib: path.resolve(__dirname, "app/src/lib") } } };

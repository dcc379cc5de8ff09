import { describe, expect, it } from "vitest";
import { lastUserText, startLlmStandIn } from "../../test-harness/stand-ins/llm.ts";

const BEGIN = "<<<BEGIN_OPENCLAW_INTERNAL_CONTEXT>>>";
const END = "<<<END_OPENCLAW_INTERNAL_CONTEXT>>>";

describe("the DEV-ONLY LLM stand-in echoes what the person wrote", () => {
  it("cuts OpenClaw's runtime context out of the user's message, nested blocks included", () => {
    const text = `${BEGIN}\nchannel: webchat\n${BEGIN}\ninner\n${END}\nmore\n${END}\n\nWhat is on my calendar?`;
    expect(lastUserText([{ role: "user", content: text }])).toBe("What is on my calendar?");
  });

  it("drops OpenClaw's timestamp envelope in front and its Runtime line after the person's words", () => {
    const text = "[Tue 2026-12-01 10:01 UTC] Hello from my first ten minutes\n\nRuntime: agent=main | session=agent:main | channel=webchat";
    expect(lastUserText([{ role: "user", content: text }])).toBe("Hello from my first ten minutes");
    // Positive control: brackets and the word Runtime inside what the person wrote stay.
    expect(lastUserText([{ role: "user", content: "Runtime: how long is [the film]?" }])).toBe("Runtime: how long is [the film]?");
    expect(lastUserText([{ role: "user", content: "[[chunks:3]] stream this" }])).toBe("[[chunks:3]] stream this"); // test directives stay
  });

  it("skips a user message that carries only context and answers the one before it", () => {
    const messages = [
      { role: "user", content: [{ type: "text", text: "Book a table for two" }] },
      { role: "user", content: `${BEGIN}\nruntime facts\n${END}` },
    ];
    expect(lastUserText(messages)).toBe("Book a table for two");
  });

  it("answers over HTTP with the user's words, marked as the stand-in", async () => {
    const server = await startLlmStandIn({ port: 0 });
    try {
      const port = (server.address() as { port: number }).port;
      const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          model: "gpt-test",
          messages: [
            { role: "system", content: "You are an agent" },
            { role: "user", content: `${BEGIN}\nsecret runtime\n${END}\n\nhello agent` },
          ],
        }),
      });
      const body = (await res.json()) as { choices: { message: { content: string } }[] };
      expect(body.choices[0]!.message.content).toBe("[dev stand-in] You said: hello agent");
      expect(body.choices[0]!.message.content).not.toContain("secret runtime");
    } finally {
      server.close();
    }
  });
});

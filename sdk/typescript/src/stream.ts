/**
 * Reading the key event stream (server-sent events): blocks split on a blank line,
 * whatever the line endings (LF, CRLF, CR) and wherever the chunks break.
 */

/** One event of the stream. */
export interface StreamEvent {
  /** Its id: resume after it with `Last-Event-ID`. */
  id?: string;
  /** `key.revoked`, `key.disabled`, `key.updated`, `keys.reset` or `stream.ended`. */
  event: string;
  /** Its data, read as JSON (`{key_id, organization_id, occurred_at}`). */
  data?: Record<string, unknown>;
}

/** Adds `chunk` to `buffer` and takes out every whole block in it. */
export function takeEvents(buffer: { text: string }, chunk: string): string[] {
  buffer.text += chunk;
  // One ending for all: a CR alone, or the CR of a CRLF split across chunks, becomes LF
  // only once its next character is known.
  let text = buffer.text.replace(/\r\n/g, "\n");
  const pendingCr = text.endsWith("\r");
  if (pendingCr) text = text.slice(0, -1);
  text = text.replace(/\r/g, "\n");
  const blocks: string[] = [];
  let at: number;
  while ((at = text.indexOf("\n\n")) !== -1) {
    blocks.push(text.slice(0, at));
    text = text.slice(at + 2);
  }
  buffer.text = pendingCr ? `${text}\r` : text;
  return blocks;
}

/** Reads one block; nothing for a comment (a heartbeat) or a block with no event. */
export function parseEvent(block: string): StreamEvent | undefined {
  let id: string | undefined;
  let event = "message";
  const data: string[] = [];
  let fields = 0;
  for (const line of block.split("\n")) {
    if (line === "" || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    fields += 1;
    if (field === "id") id = value;
    else if (field === "event") event = value;
    else if (field === "data") data.push(value);
  }
  if (fields === 0) return undefined;
  let parsed: Record<string, unknown> | undefined;
  if (data.length > 0) {
    try {
      const value: unknown = JSON.parse(data.join("\n"));
      if (value && typeof value === "object") parsed = value as Record<string, unknown>;
    } catch {
      parsed = undefined;
    }
  }
  return { id, event, data: parsed };
}

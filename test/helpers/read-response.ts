// A daemon's answer as the server tests read it: its status, text, headers, and its JSON
// body when it has one (undefined otherwise: an error page, an empty body).

export async function readResponse(res: Response): Promise<{ status: number; text: string; json: any; headers: Headers }> {
  const text = await res.text();
  let json: any;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json, headers: res.headers };
}

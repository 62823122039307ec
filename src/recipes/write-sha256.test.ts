import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withSha256 } from './write-sha256.ts';

const SHA = 'a'.repeat(64);

test('withSha256: the line goes after the url of the right [[sources]] table; anything unusual is left alone', () => {
  const cases: Array<{ name: string; text: string; index: number; count: number; want: string | undefined }> = [
    {
      name: 'one source',
      text: 'name = "x"\n\n[[sources]]\nurl = "https://a.example/x.tar.gz"\n\n[build]\nscript = "true"\n',
      index: 0, count: 1,
      want: `name = "x"\n\n[[sources]]\nurl = "https://a.example/x.tar.gz"\nsha256 = "${SHA}"\n\n[build]\nscript = "true"\n`,
    },
    {
      name: 'the second of two, indented, a comment after the url, keys after it',
      text: '[[sources]]\nurl = "file:a.patch"\n[[sources]]  # upstream\n  url = \'mirror://debian/pool/x.tar.xz\'  # orig\n  strip = 1\n',
      index: 1, count: 2,
      want: `[[sources]]\nurl = "file:a.patch"\n[[sources]]  # upstream\n  url = 'mirror://debian/pool/x.tar.xz'  # orig\n  sha256 = "${SHA}"\n  strip = 1\n`,
    },
    {
      name: 'CRLF kept',
      text: '[[sources]]\r\nurl = "https://a.example/x"\r\n',
      index: 0, count: 1,
      want: `[[sources]]\r\nurl = "https://a.example/x"\r\nsha256 = "${SHA}"\r\n`,
    },
    { name: 'already has a sha256', text: `[[sources]]\nurl = "https://a.example/x"\nsha256 = "${'b'.repeat(64)}"\n`, index: 0, count: 1, want: undefined },
    { name: 'inline array: not edited', text: 'sources = [{ url = "https://a.example/x" }]\n', index: 0, count: 1, want: undefined },
    { name: 'tables and an inline source together: counts differ', text: '[[sources]]\nurl = "https://a.example/x"\n', index: 0, count: 2, want: undefined },
    { name: 'a url over several lines', text: '[[sources]]\nurl = """\nhttps://a.example/x"""\n', index: 0, count: 1, want: undefined },
    { name: 'no url in the table', text: '[[sources]]\ndest = "x"\n', index: 0, count: 1, want: undefined },
    { name: 'index past the end', text: '[[sources]]\nurl = "https://a.example/x"\n', index: 1, count: 1, want: undefined },
    {
      name: 'the url of the next table is not this one\'s',
      text: '[[sources]]\ndest = "x"\n[build]\nurl = "https://a.example/x"\n',
      index: 0, count: 1, want: undefined,
    },
  ];
  for (const c of cases) assert.equal(withSha256(c.text, c.index, c.count, SHA), c.want, c.name);
});

// The file name an artifact is handed out under (the daemon's artifact route, kiln
// download): NAME_VERSION_ARCH.tar.zst, with nothing a header or a path could misread.

export function artifactFileName(name: string, version: string, arch: string): string {
  return `${name}_${version}_${arch}.tar.zst`.replace(/[^A-Za-z0-9._+~-]/g, '_');
}

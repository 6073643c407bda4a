// Files from a drop (folders walked recursively through the entries API), a file picker or a folder picker.

/** All files of a drop: plain files, and every file inside dropped folders. */
export async function droppedFiles(dataTransfer) {
  const items = Array.from(dataTransfer.items || []);
  const entries = items.map((i) => (i.webkitGetAsEntry ? i.webkitGetAsEntry() : null));
  if (!entries.some((e) => e && e.isDirectory)) return Array.from(dataTransfer.files || []);
  const out = [];
  const walk = async (entry) => {
    if (!entry) return;
    if (entry.isFile) {
      out.push(await new Promise((resolve, reject) => entry.file(resolve, reject)));
      return;
    }
    const reader = entry.createReader();
    for (;;) {
      const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
      if (!batch.length) break;
      for (const e of batch) await walk(e);
    }
  };
  for (const e of entries) await walk(e);
  return out;
}

export const isZip = (f) => /\.zip$/i.test(f.name) || f.type === "application/zip";
const IMAGE = /\.(png|jpe?g|bmp|tiff?|webp)$/i;
/** Images (by name or type) and zips; anything else in a dropped folder (.txt, .DS_Store) is left out. */
export const usable = (f) => isZip(f) || IMAGE.test(f.name) || (f.type || "").startsWith("image/");

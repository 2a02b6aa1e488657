//! The image function's work on a 12-megapixel photo: a generated 4000×3000 JPEG → WebP
//! renditions at 800 and 400 px, by the release `photo-renditions` binary in its `--render`
//! mode (the function's own decode and resize code, without S3), three times. Its peak
//! resident memory is the process's `VmHWM`: what a Lambda's memory size must hold.

use std::path::Path;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

const RUNS: usize = 3;
/// The function's memory size in `template.yaml`.
pub const MEMORY_MB: u64 = 1024;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ImageBench {
    pub source: String,
    pub jpeg_bytes: u64,
    pub decode_ms: Vec<u64>,
    pub total_ms: Vec<u64>,
    pub peak_rss_kib: u64,
    pub renditions: String,
    pub x86_bytes: Option<u64>,
    pub arm64_bytes: Option<u64>,
}

/// A 4000×3000 photo-like JPEG (smooth gradients and noise, quality 90).
fn twelve_megapixels() -> anyhow::Result<Vec<u8>> {
    let mut seed = 0x2545_f491_u32;
    let image = image::RgbImage::from_fn(4000, 3000, |x, y| {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let noise = seed & 0x1f;
        image::Rgb([((x / 16 + noise) % 256) as u8, ((y / 12 + noise) % 256) as u8, (((x + y) / 28) % 256) as u8])
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .encode_image(&image)
        .context("encoding the JPEG")?;
    Ok(out)
}

pub async fn run(root: &Path, work: &Path) -> anyhow::Result<ImageBench> {
    let bin = super::build::x86_64(root, "photo-renditions").await?;
    std::fs::create_dir_all(work).with_context(|| format!("creating {}", work.display()))?;
    let file = work.join("12mp.jpg");
    let jpeg = tokio::task::spawn_blocking(twelve_megapixels).await??;
    std::fs::write(&file, &jpeg).with_context(|| format!("writing {}", file.display()))?;
    let mut bench = ImageBench {
        source: "4000×3000 JPEG, quality 90".to_owned(),
        jpeg_bytes: jpeg.len() as u64,
        x86_bytes: std::fs::metadata(&bin).ok().map(|m| m.len()),
        arm64_bytes: std::fs::metadata(super::build::target_dir(root).join("lambda/photo-renditions/bootstrap"))
            .ok()
            .map(|m| m.len()),
        ..ImageBench::default()
    };
    for _ in 0..RUNS {
        let out = tokio::process::Command::new(&bin).arg("--render").arg(&file).output().await?;
        anyhow::ensure!(
            out.status.success(),
            "photo-renditions --render failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).context("reading its report")?;
        bench.decode_ms.push(report["decode_ms"].as_u64().unwrap_or_default());
        bench.total_ms.push(report["total_ms"].as_u64().unwrap_or_default());
        bench.peak_rss_kib = bench.peak_rss_kib.max(report["peak_rss_kib"].as_u64().unwrap_or_default());
        bench.renditions = report["renditions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|r| format!("{}×{} ({} KB)", r["width"], r["height"], r["bytes"].as_u64().unwrap_or_default() / 1000))
            .collect::<Vec<_>>()
            .join(", ");
    }
    Ok(bench)
}

impl ImageBench {
    /// The section of the report.
    pub fn markdown(&self) -> String {
        let median = |v: &[u64]| {
            let mut v = v.to_vec();
            v.sort_unstable();
            v.get(v.len() / 2).copied().unwrap_or_default()
        };
        let peak_mib = self.peak_rss_kib as f64 / 1024.0;
        let mb = |b: Option<u64>| b.map_or("—".to_owned(), |b| format!("{:.2}", b as f64 / 1e6));
        format!(
            "## The image function: a 12-megapixel JPEG → two WebP renditions\n\n\
             | source | JPEG KB | decode ms (median of {RUNS}) | decode + 2 renditions ms | peak RSS MiB | of {MEMORY_MB} MB | renditions | x86_64 MB | arm64 MB |\n\
             |---|---:|---:|---:|---:|---:|---|---:|---:|\n\
             | {} | {} | {} | {} | {peak_mib:.0} | {:.0} % | {} | {} | {} |\n",
            self.source,
            self.jpeg_bytes / 1000,
            median(&self.decode_ms),
            median(&self.total_ms),
            peak_mib / MEMORY_MB as f64 * 100.0,
            self.renditions,
            mb(self.x86_bytes),
            mb(self.arm64_bytes),
        )
    }
}

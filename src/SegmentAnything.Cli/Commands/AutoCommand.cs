using System.CommandLine;
using SegmentAnything.AutomaticMasks;
using SegmentAnything.Imaging;

namespace SegmentAnything.Cli.Commands;

/// <summary>
/// <c>sam auto IMAGE|FOLDER -o OUT</c>: automatic mask generation with every option of the official
/// generator; one SA-1B JSON per image (written atomically), optionally mask PNGs and an overlay. A
/// folder run skips images already done unless <c>--overwrite</c> and reports corrupt images and goes on.
/// </summary>
public static class AutoCommand
{
    private static readonly string[] ImageExtensions = [".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp"];

    public static Command Create()
    {
        var input = new Argument<string>("input") { Description = "An image, or a folder of images." };
        var checkpoint = CommonOptions.Checkpoint();
        var model = CommonOptions.Model();
        var output = new Option<string>("--output", "-o") { Description = "Output folder.", Required = true };
        var d = new AutomaticMaskGeneratorOptions();
        var pointsPerSide = new Option<int>("--points-per-side") { Description = "Points sampled along each side of the image (grid of n² points).", DefaultValueFactory = _ => d.PointsPerSide!.Value };
        var pointsPerBatch = new Option<int>("--points-per-batch") { Description = "Points decoded together.", DefaultValueFactory = _ => d.PointsPerBatch };
        var predIou = new Option<float>("--pred-iou-thresh") { Description = "Keep masks whose predicted IoU exceeds this (0 disables).", DefaultValueFactory = _ => d.PredIouThresh };
        var stability = new Option<float>("--stability-score-thresh") { Description = "Keep masks whose stability score is at least this (0 disables).", DefaultValueFactory = _ => d.StabilityScoreThresh };
        var stabilityOffset = new Option<float>("--stability-score-offset") { Description = "Logit offset of the stability score.", DefaultValueFactory = _ => d.StabilityScoreOffset };
        var boxNms = new Option<float>("--box-nms-thresh") { Description = "Box IoU above which duplicate masks are removed within a crop.", DefaultValueFactory = _ => d.BoxNmsThresh };
        var cropLayers = new Option<int>("--crop-n-layers") { Description = "Crop layers (layer i has 4^i crops).", DefaultValueFactory = _ => d.CropNLayers };
        var cropNms = new Option<float>("--crop-nms-thresh") { Description = "Box IoU above which duplicates are removed across crops.", DefaultValueFactory = _ => d.CropNmsThresh };
        var cropOverlap = new Option<double>("--crop-overlap-ratio") { Description = "Overlap of first-layer crops as a fraction of the short side.", DefaultValueFactory = _ => d.CropOverlapRatio };
        var downscale = new Option<int>("--crop-n-points-downscale-factor") { Description = "Points per side divided by this per crop layer.", DefaultValueFactory = _ => d.CropNPointsDownscaleFactor };
        var minArea = new Option<int>("--min-mask-region-area") { Description = "Remove islands and fill holes smaller than this (pixels; 0 disables).", DefaultValueFactory = _ => d.MinMaskRegionArea };
        var mode = new Option<string>("--output-mode") { Description = "Segmentation format: binary_mask, uncompressed_rle or coco_rle.", DefaultValueFactory = _ => "uncompressed_rle" };
        var maskPngs = new Option<bool>("--mask-pngs") { Description = "Also write one PNG per mask (IMAGE_masks/NNN.png)." };
        var overlay = new Option<bool>("--overlay") { Description = "Also write an overlay colouring every mask (IMAGE_overlay.png); on by default for a single image.", DefaultValueFactory = _ => true };
        var polygons = new Option<bool>("--polygons") { Description = "Also write each mask's outline: \"polygons\" (COCO polygon segmentation, outer rings) and \"polygon_holes\"." };
        var polygonTolerance = new Option<double>("--polygon-tolerance") { Description = "Douglas-Peucker simplification of --polygons, in pixels (0: exact pixel outlines).", DefaultValueFactory = _ => 0 };
        var overwrite = new Option<bool>("--overwrite") { Description = "Redo images whose JSON already exists." };
        var cmd = new Command("auto", "Segment everything: automatic mask generation over a point grid (and crops).")
        {
            input, checkpoint, model, output, pointsPerSide, pointsPerBatch, predIou, stability, stabilityOffset, boxNms,
            cropLayers, cropNms, cropOverlap, downscale, minArea, mode, polygons, polygonTolerance, maskPngs, overlay, overwrite,
        };
        cmd.SetAction(r =>
        {
            CommonOptions.CheckModelChoice(r, checkpoint, model);
            var outputMode = ParseMode(r.GetValue(mode)!);
            var options = new AutomaticMaskGeneratorOptions
            {
                PointsPerSide = r.GetValue(pointsPerSide), PointsPerBatch = r.GetValue(pointsPerBatch),
                PredIouThresh = r.GetValue(predIou), StabilityScoreThresh = r.GetValue(stability), StabilityScoreOffset = r.GetValue(stabilityOffset),
                BoxNmsThresh = r.GetValue(boxNms), CropNLayers = r.GetValue(cropLayers), CropNmsThresh = r.GetValue(cropNms),
                CropOverlapRatio = r.GetValue(cropOverlap), CropNPointsDownscaleFactor = r.GetValue(downscale),
                MinMaskRegionArea = r.GetValue(minArea), OutputMode = outputMode,
            };
            try { options.Validate(); }
            catch (ArgumentException e) { throw new CliException(e.Message); }
            double tolerance = r.GetValue(polygonTolerance);
            if (!(tolerance >= 0) || double.IsInfinity(tolerance)) throw new CliException($"--polygon-tolerance must be a finite number >= 0, not {tolerance}");
            double? polygonTol = r.GetValue(polygons) ? tolerance : null;

            string path = r.GetValue(input)!;
            bool folder = Directory.Exists(path);
            if (!folder && !File.Exists(path)) throw new CliException($"input '{path}' does not exist");
            var images = folder
                ? Directory.EnumerateFiles(path).Where(f => ImageExtensions.Contains(Path.GetExtension(f).ToLowerInvariant())).Order(StringComparer.Ordinal).ToList()
                : [path];
            if (folder && images.Count == 0) throw new CliException($"folder '{path}' holds no images");
            string outDir = r.GetValue(output)!;
            Directory.CreateDirectory(outDir);

            var sam = CommonOptions.LoadModel(r, checkpoint, model);
            var generator = new AutomaticMaskGenerator(sam, options);
            int failed = 0, skipped = 0;
            for (int i = 0; i < images.Count; i++)
            {
                string img = images[i];
                string stem = Path.GetFileNameWithoutExtension(img);
                string jsonPath = Path.Combine(outDir, stem + ".json");
                if (File.Exists(jsonPath) && !r.GetValue(overwrite))
                {
                    skipped++;
                    continue;
                }
                string label = images.Count > 1 ? $"[{i + 1}/{images.Count}] {Path.GetFileName(img)}" : Path.GetFileName(img);
                RgbImage image;
                try { image = ImageIO.Load(img); }
                catch (ImageException e) when (folder)
                {
                    Console.Error.WriteLine($"sam: skipping '{img}': {e.Message}");
                    failed++;
                    continue;
                }
                ProgressBar? bar = null;
                var records = generator.Generate(image, new SyncProgress(p => (bar ??= new ProgressBar(label, p.Total)).Report(p.Done)));
                bar?.Done();
                WriteAtomically(jsonPath, s => Sa1bJson.Write(s, records, outputMode, Path.GetFileName(img), image.Width, image.Height, polygonTol));
                if (r.GetValue(maskPngs))
                {
                    string maskDir = Path.Combine(outDir, stem + "_masks");
                    Directory.CreateDirectory(maskDir);
                    for (int m = 0; m < records.Count; m++)
                        ImageIO.SaveMaskPng(records[m].DecodeMask(), image.Width, image.Height, Path.Combine(maskDir, $"{m:D3}.png"));
                }
                if (r.GetValue(overlay))
                {
                    string overlayPath = Path.Combine(outDir, stem + "_overlay.png");
                    ImageIO.SavePng(Overlay.Draw(image, records.Select(x => x.DecodeMask()).ToList()), overlayPath + ".tmp");
                    File.Move(overlayPath + ".tmp", overlayPath, overwrite: true);
                }
                var t = generator.LastTimings!;
                Console.WriteLine($"{img}: {records.Count} masks ({t.Prompts} prompts, encoder {t.EncoderMs / 1000:F1} s, decoder {t.DecoderMs / 1000:F1} s, post {t.PostprocessMs / 1000:F1} s) -> {jsonPath}");
            }
            if (skipped > 0) Console.WriteLine($"skipped {skipped} image(s) already done (use --overwrite to redo them)");
            if (failed > 0)
            {
                Console.Error.WriteLine($"sam: {failed} image(s) could not be read");
                return 1;
            }
            return 0;
        });
        return cmd;
    }

    private static AmgOutputMode ParseMode(string s) => s.Replace('-', '_').ToLowerInvariant() switch
    {
        "binary_mask" => AmgOutputMode.BinaryMask,
        "uncompressed_rle" => AmgOutputMode.UncompressedRle,
        "coco_rle" => AmgOutputMode.CocoRle,
        _ => throw new CliException($"--output-mode must be binary_mask, uncompressed_rle or coco_rle, not '{s}'"),
    };

    /// <summary>Writes to a temporary file beside the target, then renames: a killed run leaves no half-written file.</summary>
    private static void WriteAtomically(string path, Action<Stream> write)
    {
        string tmp = path + ".tmp";
        using (var s = File.Create(tmp)) write(s);
        File.Move(tmp, path, overwrite: true);
    }

    /// <summary>IProgress that reports on the calling thread (Progress&lt;T&gt; would post to the thread pool).</summary>
    private sealed class SyncProgress(Action<(int Done, int Total)> report) : IProgress<(int Done, int Total)>
    {
        public void Report((int Done, int Total) value) => report(value);
    }
}

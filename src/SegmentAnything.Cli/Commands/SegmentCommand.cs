using System.CommandLine;
using SegmentAnything.Checkpoints;
using SegmentAnything.Imaging;

namespace SegmentAnything.Cli.Commands;

/// <summary>
/// <c>sam segment IMAGE --point x,y[,label]... [--box ...] -o DIR</c>: masks as PNGs, an overlay,
/// <c>masks.json</c> (score, area, bbox, COCO RLE) and optionally the low-res logits.
/// </summary>
public static class SegmentCommand
{
    public static Command Create()
    {
        var image = new Argument<string>("image") { Description = "Input image (PNG, JPEG, ...)." };
        var checkpoint = CommonOptions.Checkpoint();
        var model = CommonOptions.Model();
        var embedding = new Option<string?>("--embedding", "-e") { Description = "Embedding saved by 'sam embed' (skips the image encoder)." };
        var points = new Option<string[]>("--point", "-p") { Description = "Point prompt x,y[,label] in image pixels; label 1 foreground (default), 0 background. Repeatable." };
        var box = new Option<string?>("--box", "-b") { Description = "Box prompt x0,y0,x1,y1 in image pixels." };
        var maskInput = new Option<string?>("--mask-input") { Description = "Low-res logits from an earlier run (a --logits file); the best-scoring mask is used." };
        var multimask = new Option<bool>("--multimask") { Description = "Return the three disambiguating masks instead of one." };
        var output = new Option<string>("--output", "-o") { Description = "Output folder.", Required = true };
        var logits = new Option<string?>("--logits") { Description = "Also write the low-res logits and IoU scores to this .safetensors file." };
        var cmd = new Command("segment", "Segment an image from point and box prompts.")
        {
            image, checkpoint, model, embedding, points, box, maskInput, multimask, output, logits,
        };
        cmd.SetAction(r =>
        {
            CommonOptions.CheckModelChoice(r, checkpoint, model);
            string imagePath = CommonOptions.ExistingFile(r.GetValue(image)!, "image");
            var parsedPoints = (r.GetValue(points) ?? []).Select(PromptParsing.ParsePoint).ToList();
            float[]? boxValues = r.GetValue(box) is string b ? PromptParsing.ParseBox(b) : null;
            float[]? mask = r.GetValue(maskInput) is string m ? ReadMaskInput(CommonOptions.ExistingFile(m, "mask input")) : null;
            if (parsedPoints.Count == 0 && boxValues is null && mask is null)
                throw new CliException("no prompt given: use --point x,y[,label], --box x0,y0,x1,y1 or --mask-input FILE");

            var img = ImageIO.Load(imagePath);
            var sam = CommonOptions.LoadModel(r, checkpoint, model);
            var predictor = new SamPredictor(sam);
            if (r.GetValue(embedding) is string embPath)
            {
                var emb = ImageEmbedding.Load(CommonOptions.ExistingFile(embPath, "embedding"));
                if (emb.OriginalSize != (img.Height, img.Width))
                    throw new CliException($"embedding '{embPath}' was made for a {emb.OriginalSize.W}x{emb.OriginalSize.H} image, but '{imagePath}' is {img.Width}x{img.Height}");
                predictor.SetEmbedding(emb);
            }
            else predictor.SetImage(img);

            var prompt = new Prompt(
                parsedPoints.Count > 0 ? parsedPoints.SelectMany(p => new[] { p.X, p.Y }).ToArray() : null,
                parsedPoints.Count > 0 ? parsedPoints.Select(p => p.Label).ToArray() : null,
                boxValues, mask);
            var result = predictor.Predict(prompt, r.GetValue(multimask));
            string outDir = r.GetValue(output)!;
            Directory.CreateDirectory(outDir);
            MaskOutputs.Write(outDir, img, imagePath, sam.Architecture, result, prompt);
            if (r.GetValue(logits) is string logitsPath)
            {
                if (Path.GetDirectoryName(Path.GetFullPath(logitsPath)) is string dir) Directory.CreateDirectory(dir);
                SafeTensors.Write(logitsPath, new Dictionary<string, CheckpointTensor>
                {
                    ["low_res_logits"] = CheckpointTensor.FromFloats(result.LowResLogits, result.Count, result.LowResHeight, result.LowResWidth),
                    ["iou"] = CheckpointTensor.FromFloats(result.Scores, result.Count),
                }, new Dictionary<string, string> { [ImageEmbedding.ArchitectureKey] = sam.Architecture });
            }
            for (int i = 0; i < result.Count; i++)
                Console.WriteLine($"mask {i}: score {result.Scores[i]:F4}");
            Console.WriteLine($"wrote {result.Count} mask(s), overlay.png and masks.json to {outDir}");
            return 0;
        });
        return cmd;
    }

    /// <summary>Reads low-res logits written by <c>--logits</c>: the mask with the best IoU, or the only one.</summary>
    private static float[] ReadMaskInput(string path)
    {
        var f = SafeTensors.Read(path);
        if (!f.Tensors.TryGetValue("low_res_logits", out var low) || low.Shape.Length < 2)
            throw new CliException($"mask input '{path}' has no 'low_res_logits' tensor [..., h, w]");
        int plane = low.Shape[^1] * low.Shape[^2];
        int count = (int)(low.ElementCount / plane), best = 0;
        if (f.Tensors.TryGetValue("iou", out var iou) && iou.ElementCount == count)
            for (int i = 1; i < count; i++) if (iou.Floats[i] > iou.Floats[best]) best = i;
        return low.Floats.AsSpan(best * plane, plane).ToArray();
    }
}

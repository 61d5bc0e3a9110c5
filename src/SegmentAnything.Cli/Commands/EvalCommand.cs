using System.CommandLine;
using System.Text.Json;
using SegmentAnything.Compression;
using SegmentAnything.Imaging;

namespace SegmentAnything.Cli.Commands;

/// <summary>
/// <c>sam eval</c>: a model's mask agreement with a reference model (grid clicks and boxes, best of 3 by
/// predicted IoU) and, for images with a <c>NAME_instances.png</c> beside them, its mIoU against that ground truth.
/// </summary>
public static class EvalCommand
{
    public static Command Create()
    {
        var checkpoint = CommonOptions.Checkpoint();
        var model = CommonOptions.Model();
        var reference = new Option<string?>("--reference", "-r") { Description = "Reference checkpoint (e.g. the float32 original) to measure agreement against." };
        var images = new Option<string[]>("--image", "-i") { Description = "Images to evaluate on (repeatable). NAME_instances.png beside NAME.png adds a ground-truth mIoU.", Required = true, AllowMultipleArgumentsPerToken = true };
        var grid = new Option<int>("--grid") { Description = "Clicks per image side for the agreement (grid x grid clicks).", DefaultValueFactory = _ => 8 };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table." };
        var cmd = new Command("eval", "Measure a model against a reference model and against ground-truth instance masks.") { checkpoint, model, reference, images, grid, json };
        cmd.SetAction(r =>
        {
            CommonOptions.CheckModelChoice(r, checkpoint, model);
            int g = r.GetValue(grid);
            if (g < 1 || g > 64) throw new CliException("--grid must lie in 1..64");
            var paths = r.GetValue(images)!.Select(p => CommonOptions.ExistingFile(p, "image")).ToList();
            string? refPath = r.GetValue(reference) is string rp ? CommonOptions.ExistingFile(rp, "reference checkpoint") : null;
            var loaded = paths.Select(p => ImageIO.Load(p)).ToList();
            var scenes = new List<InstanceScene>();
            for (int i = 0; i < paths.Count; i++)
            {
                string gt = Path.Combine(Path.GetDirectoryName(paths[i]) ?? ".", Path.GetFileNameWithoutExtension(paths[i]) + "_instances.png");
                if (!File.Exists(gt)) continue;
                var ids = ImageIO.Load(gt);
                if (ids.Width != loaded[i].Width || ids.Height != loaded[i].Height) throw new CliException($"'{gt}' is {ids.Width}x{ids.Height}, its image {loaded[i].Width}x{loaded[i].Height}");
                scenes.Add(new InstanceScene(loaded[i], ModelEvaluator.InstanceIds(ids)));
            }
            var candidate = CommonOptions.LoadModel(r, checkpoint, model);
            var refModel = refPath is null ? null : SamModel.Load(refPath);
            if (refModel is not null && refModel.Architecture != candidate.Architecture)
                throw new CliException($"the reference is {refModel.Architecture}, the model {candidate.Architecture}");
            var agreement = refModel is null ? null : ModelEvaluator.Agreement(candidate, refModel, loaded, g);
            var gtCand = scenes.Count == 0 ? null : ModelEvaluator.GroundTruth(candidate, scenes);
            var gtRef = scenes.Count == 0 || refModel is null ? null : ModelEvaluator.GroundTruth(refModel, scenes);
            if (agreement is null && gtCand is null) throw new CliException("nothing to measure: give --reference, or images with NAME_instances.png ground truth");
            if (r.GetValue(json))
            {
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    architecture = candidate.Architecture,
                    images = paths.Count,
                    grid = g,
                    agreement = agreement is null ? null : new { miou = Math.Round(agreement.MIoU, 5), point_miou = Math.Round(agreement.PointMIoU, 5), point_prompts = agreement.PointPrompts, box_miou = Math.Round(agreement.BoxMIoU, 5), box_prompts = agreement.BoxPrompts, iou_score_mae = Math.Round(agreement.IouScoreMae, 5) },
                    ground_truth = gtCand is null ? null : new { miou = Math.Round(gtCand.MIoU, 5), reference_miou = gtRef is null ? (double?)null : Math.Round(gtRef.MIoU, 5), instances = gtCand.Instances },
                }));
                return 0;
            }
            Console.WriteLine($"{candidate.Architecture} on {paths.Count} image(s)");
            Console.WriteLine($"{"metric",-34} {"value",10}");
            if (agreement is not null)
            {
                Console.WriteLine($"{$"agreement mIoU, points ({agreement.PointPrompts})",-34} {agreement.PointMIoU,10:F4}");
                Console.WriteLine($"{$"agreement mIoU, boxes ({agreement.BoxPrompts})",-34} {agreement.BoxMIoU,10:F4}");
                Console.WriteLine($"{"agreement mIoU, all",-34} {agreement.MIoU,10:F4}");
                Console.WriteLine($"{"IoU-score mean abs error",-34} {agreement.IouScoreMae,10:F4}");
            }
            if (gtCand is not null)
            {
                Console.WriteLine($"{$"ground-truth mIoU ({gtCand.Instances} instances)",-34} {gtCand.MIoU,10:F4}");
                if (gtRef is not null) Console.WriteLine($"{"ground-truth mIoU, reference",-34} {gtRef.MIoU,10:F4}");
            }
            return 0;
        });
        return cmd;
    }
}

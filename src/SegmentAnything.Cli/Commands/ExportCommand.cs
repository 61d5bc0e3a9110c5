using System.CommandLine;
using SegmentAnything.Server.Annotation;

namespace SegmentAnything.Cli.Commands;

/// <summary><c>sam export --db FILE --format coco|sa1b|png -o OUT</c>: writes a project's annotations.</summary>
public static class ExportCommand
{
    public static Command Create()
    {
        var db = new Option<string>("--db") { Description = "Annotation database written by 'sam serve'.", Required = true };
        var format = new Option<string>("--format", "-f") { Description = "coco (one JSON), sa1b (one JSON per image) or png (one mask per annotation).", DefaultValueFactory = _ => "coco" };
        var output = new Option<string>("--output", "-o") { Description = "Output file (coco) or folder (sa1b, png).", Required = true };
        var polygons = new Option<bool>("--polygons") { Description = "COCO segmentation as polygons instead of RLE." };
        var tolerance = new Option<double>("--tolerance") { Description = "Polygon simplification tolerance in pixels.", DefaultValueFactory = _ => AnnotationStore.DefaultPolygonTolerance };
        var cmd = new Command("export", "Export annotations as COCO instances JSON, SA-1B JSON or PNG masks.") { db, format, output, polygons, tolerance };
        cmd.SetAction(r =>
        {
            var kind = ExportOptions.ParseFormat(r.GetValue(format));
            string path = CommonOptions.ExistingFile(r.GetValue(db)!, "database");
            var store = new AnnotationStore(path);
            var written = Exporter.Write(store, new ExportOptions(kind, r.GetValue(polygons), r.GetValue(tolerance)), r.GetValue(output)!);
            Console.WriteLine($"wrote {written.Count} file(s) to {r.GetValue(output)}: {store.AllAnnotations().Count} annotations on {store.Images().Count} images");
            return 0;
        });
        return cmd;
    }
}

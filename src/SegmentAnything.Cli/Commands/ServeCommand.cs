using System.CommandLine;
using SegmentAnything.Server;

namespace SegmentAnything.Cli.Commands;

/// <summary><c>sam serve --images DIR</c>: the annotation app on 127.0.0.1, until Ctrl+C.</summary>
public static class ServeCommand
{
    public static Command Create()
    {
        var images = new Option<string>("--images", "-i") { Description = "Folder of images to annotate.", Required = true };
        var checkpoint = CommonOptions.Checkpoint();
        var model = CommonOptions.Model();
        var db = new Option<string?>("--db") { Description = "SQLite database (default: IMAGES/.sam/annotations.db)." };
        var port = new Option<int>("--port", "-p") { Description = "Port on 127.0.0.1 (0 picks a free one).", DefaultValueFactory = _ => 8765 };
        var maxUpload = new Option<long>("--max-upload-mb") { Description = "Largest accepted upload in MiB.", DefaultValueFactory = _ => 32 };
        var cmd = new Command("serve", "Serve the click-to-segment annotation page and its JSON API on 127.0.0.1.") { images, checkpoint, model, db, port, maxUpload };
        cmd.SetAction(r =>
        {
            CommonOptions.CheckModelChoice(r, checkpoint, model);
            string dir = r.GetValue(images)!;
            if (!Directory.Exists(dir)) throw new CliException($"images folder '{dir}' does not exist");
            int p = r.GetValue(port);
            if (p is < 0 or > 65535) throw new CliException($"--port {p} is not a valid port");
            long mb = r.GetValue(maxUpload);
            if (mb is <= 0 or > 4096) throw new CliException("--max-upload-mb must be between 1 and 4096");
            var sam = CommonOptions.LoadModel(r, checkpoint, model);
            string name = r.GetValue(model) ?? Path.GetFileName(r.GetValue(checkpoint)!);
            var options = new ServerOptions(dir, r.GetValue(db) ?? ServerOptions.DefaultDatabase(dir), p) { MaxUploadBytes = mb << 20 };
            return Run(sam, name, options);
        });
        return cmd;
    }

    private static int Run(SamModel sam, string name, ServerOptions options)
    {
        var server = AnnotationServer.Create(sam, name, options);
        try
        {
            server.StartAsync().GetAwaiter().GetResult();
        }
        catch (IOException e)
        {
            throw new CliException($"cannot listen on 127.0.0.1:{options.Port}: {e.Message}");
        }
        int images = server.Session.Store.Images().Count;
        Console.WriteLine($"Serving {images} images from {server.Session.Folder.Root} with {sam.Architecture} ({name})");
        Console.WriteLine($"Database: {server.Session.Store.Path}");
        Console.WriteLine($"Open {server.Url}  (Ctrl+C to stop)");
        using var stop = new CancellationTokenSource();
        Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
        try { Task.Delay(Timeout.Infinite, stop.Token).Wait(); }
        catch (AggregateException) { }
        server.DisposeAsync().AsTask().GetAwaiter().GetResult();
        return 0;
    }
}

using System.CommandLine;
using SegmentAnything.Cli;
using SegmentAnything.Cli.Commands;

var root = new RootCommand("sam: Segment Anything (SAM, MobileSAM, EfficientSAM) in pure C#.");
root.Subcommands.Add(InfoCommand.Create());
root.Subcommands.Add(EmbedCommand.Create());
root.Subcommands.Add(SegmentCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
root.Subcommands.Add(AutoCommand.Create());
root.Subcommands.Add(ServeCommand.Create());
root.Subcommands.Add(ExportCommand.Create());
root.Subcommands.Add(CompressCommand.Create());
root.Subcommands.Add(EvalCommand.Create());
return CliRunner.Run(root, args);

using System.CommandLine;
using SegmentAnything.Checkpoints;
using SegmentAnything.Imaging;

namespace SegmentAnything.Cli;

/// <summary>A user-facing failure: printed as one line on stderr, exit code 1.</summary>
public sealed class CliException(string message) : Exception(message);

/// <summary>
/// Parses and runs a command so that every failure, whether a bad flag, a missing file or a
/// hostile checkpoint, ends as one clear line on stderr and a non-zero exit code, never a stack trace.
/// </summary>
public static class CliRunner
{
    public static int Run(RootCommand root, string[] args)
    {
        ParseResult parsed = root.Parse(args);
        if (parsed.Errors.Count > 0)
        {
            Console.Error.WriteLine($"sam: {parsed.Errors[0].Message} (see 'sam --help')");
            return 2;
        }
        try
        {
            return parsed.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (Exception e) when (IsUserFacing(e))
        {
            Console.Error.WriteLine($"sam: {OneLine(e.Message)}");
            return 1;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine($"sam: internal error: {e.GetType().Name}: {OneLine(e.Message)}");
            return 3;
        }
    }

    private static bool IsUserFacing(Exception e) => e is CliException or CheckpointException or ImageException or ArgumentException
        or IOException or UnauthorizedAccessException or NotSupportedException or InvalidOperationException or FormatException
        or System.Text.Json.JsonException or Microsoft.Data.Sqlite.SqliteException;

    private static string OneLine(string s) => s.ReplaceLineEndings(" ").Trim();
}

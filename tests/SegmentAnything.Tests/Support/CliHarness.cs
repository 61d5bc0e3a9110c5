using System.Diagnostics;

namespace SegmentAnything.Tests.Support;

/// <summary>Runs the real <c>sam</c> executable (built beside the tests) as a child process.</summary>
public static class CliHarness
{
    public sealed record Result(int ExitCode, string StdOut, string StdErr);

    public static Result Run(params string[] args) => Run(null, args);

    public static Result Run(IReadOnlyDictionary<string, string>? env, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "sam.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        if (env is not null) foreach (var (k, v) in env) psi.Environment[k] = v;
        using var p = Process.Start(psi)!;
        p.StandardInput.Close();
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5))) { p.Kill(true); throw new TimeoutException("sam did not finish within 5 minutes"); }
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }

    public static string TempDir()
    {
        string d = Path.Combine(Path.GetTempPath(), "sam-tests-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(d);
        return d;
    }
}

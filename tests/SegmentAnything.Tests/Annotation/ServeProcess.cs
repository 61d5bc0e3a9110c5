using System.Diagnostics;
using System.Text.RegularExpressions;

namespace SegmentAnything.Tests.Annotation;

/// <summary>A real <c>sam serve</c> child process (the sam.dll built beside the tests) on a free port.</summary>
internal sealed partial class ServeProcess : IDisposable
{
    public Process Process { get; }
    public string Url { get; }
    private readonly Task<string> _stderr;

    private ServeProcess(Process p, string url, Task<string> stderr) => (Process, Url, _stderr) = (p, url, stderr);

    public static ServeProcess Start(params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "sam.dll"));
        psi.ArgumentList.Add("serve");
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.ArgumentList.Add("--port");
        psi.ArgumentList.Add("0");
        var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        var deadline = DateTime.UtcNow.AddSeconds(90);
        var seen = new List<string>();
        while (DateTime.UtcNow < deadline)
        {
            var line = p.StandardOutput.ReadLineAsync();
            if (!line.Wait(TimeSpan.FromSeconds(90)) || line.Result is null) break;
            seen.Add(line.Result);
            var m = UrlPattern().Match(line.Result);
            if (m.Success)
            {
                _ = p.StandardOutput.ReadToEndAsync(); // keep the pipe drained
                return new ServeProcess(p, m.Value, stderr);
            }
        }
        try { p.Kill(true); } catch (InvalidOperationException) { }
        p.WaitForExit(5000);
        throw new InvalidOperationException($"sam serve did not print its URL. stdout: {string.Join(" | ", seen)} stderr: {(stderr.Wait(1000) ? stderr.Result : "")}");
    }

    /// <summary>SIGKILL, as <c>kill -9</c>: no shutdown code runs.</summary>
    public void KillHard()
    {
        Process.Kill(entireProcessTree: false);
        Assert.True(Process.WaitForExit(10_000), "sam serve did not die");
    }

    public void Dispose()
    {
        if (!Process.HasExited)
        {
            try { Process.Kill(true); } catch (InvalidOperationException) { }
            Process.WaitForExit(10_000);
        }
        Process.Dispose();
    }

    [GeneratedRegex(@"http://127\.0\.0\.1:\d+/")]
    private static partial Regex UrlPattern();
}

namespace SegmentAnything.Cli;

/// <summary>A one-line progress bar on stderr, redrawn at most a few times a second; silent when stderr is redirected.</summary>
public sealed class ProgressBar(string label, long? total)
{
    private readonly bool _interactive = !Console.IsErrorRedirected;
    private DateTime _last = DateTime.MinValue;

    public void Report(long done)
    {
        if (!_interactive || (DateTime.UtcNow - _last).TotalMilliseconds < 200) return;
        _last = DateTime.UtcNow;
        if (total is long t && t > 0)
        {
            int width = 30, filled = (int)(width * Math.Min(1.0, done / (double)t));
            Console.Error.Write($"\r{label} [{new string('#', filled)}{new string('-', width - filled)}] {done * 100 / t,3}% ");
        }
        else Console.Error.Write($"\r{label} {done / (1 << 20)} MiB ");
    }

    public void Done()
    {
        if (_interactive) Console.Error.WriteLine();
    }
}

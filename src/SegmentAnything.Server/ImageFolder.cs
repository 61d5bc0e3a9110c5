namespace SegmentAnything.Server;

/// <summary>
/// The images folder and the only files the server will ever read or serve. A requested path must be
/// relative, free of <c>..</c>, and must still lie inside the folder once every symbolic link along it
/// is resolved; anything else is refused with 403.
/// </summary>
public sealed class ImageFolder
{
    public static readonly string[] Extensions = [".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif"];

    private const int MaxLinkDepth = 40;

    /// <summary>The folder as given (made absolute).</summary>
    public string Root { get; }

    /// <summary>The folder with its own symbolic links resolved: the boundary every file must stay in.</summary>
    public string RealRoot { get; }

    public ImageFolder(string root)
    {
        Root = Path.GetFullPath(root);
        if (!Directory.Exists(Root)) throw new DirectoryNotFoundException($"Images folder '{root}' does not exist.");
        RealRoot = RealPath(Root);
    }

    public static bool IsImageName(string name) => Extensions.Contains(Path.GetExtension(name).ToLowerInvariant());

    /// <summary>Image files under the folder (hidden folders such as <c>.sam</c> skipped), as '/'-separated relative names.</summary>
    public IReadOnlyList<string> Scan()
    {
        var found = new List<string>();
        var pending = new Stack<string>();
        pending.Push(RealRoot);
        while (pending.Count > 0 && found.Count < 100_000)
        {
            string dir = pending.Pop();
            IEnumerable<FileSystemInfo> entries;
            try { entries = new DirectoryInfo(dir).EnumerateFileSystemInfos(); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { continue; }
            foreach (var entry in entries)
            {
                if (entry.Name.StartsWith('.')) continue;
                string rel = Path.GetRelativePath(RealRoot, entry.FullName).Replace('\\', '/');
                if (entry.LinkTarget is not null && !TryResolve(rel, out _)) continue; // links out are invisible
                if (entry is DirectoryInfo && entry.LinkTarget is null) pending.Push(entry.FullName);
                else if (entry is FileInfo && IsImageName(entry.Name)) found.Add(rel);
            }
        }
        found.Sort(StringComparer.Ordinal);
        return found;
    }

    /// <summary>The real path of an existing file named relative to the folder; throws <see cref="ApiException"/> otherwise.</summary>
    public string Resolve(string? relative)
    {
        string full = CheckedCombine(relative);
        string real;
        try { real = RealPath(full); }
        catch (IOException e) { throw ApiException.Forbidden($"Path '{relative}' cannot be resolved: {e.Message}"); }
        if (!IsInside(real)) throw ApiException.Forbidden($"Path '{relative}' leads outside the images folder.");
        if (!File.Exists(real)) throw ApiException.NotFound($"No file '{relative}' in the images folder.");
        return real;
    }

    public bool TryResolve(string relative, out string real)
    {
        try
        {
            real = Resolve(relative);
            return true;
        }
        catch (ApiException)
        {
            real = "";
            return false;
        }
    }

    /// <summary>Where a new (uploaded) file of this bare name would go; refuses names with any path in them.</summary>
    public string NewFilePath(string? name)
    {
        if (string.IsNullOrWhiteSpace(name)) throw ApiException.BadRequest("A file name is required.");
        if (name.Contains('/') || name.Contains('\\') || name is "." or ".." || name.StartsWith('.') || name.Any(char.IsControl) || name.Length > 255)
            throw ApiException.Forbidden($"'{name}' is not a plain file name.");
        if (!IsImageName(name)) throw new ApiException(415, $"'{name}' does not have an image extension ({string.Join(", ", Extensions)}).");
        string full = Path.Combine(RealRoot, name);
        if (File.Exists(full) || Directory.Exists(full) || new FileInfo(full).LinkTarget is not null)
            throw new ApiException(409, $"'{name}' already exists in the images folder.");
        return full;
    }

    private string CheckedCombine(string? relative)
    {
        if (string.IsNullOrEmpty(relative)) throw ApiException.BadRequest("A path is required.");
        if (relative.Contains('\0') || relative.Contains('\\')) throw ApiException.Forbidden($"Path '{relative}' contains forbidden characters.");
        if (Path.IsPathRooted(relative) || relative.StartsWith('~')) throw ApiException.Forbidden($"Path '{relative}' is absolute; paths are relative to the images folder.");
        var parts = relative.Split('/');
        if (parts.Any(p => p is ".." or "")) throw ApiException.Forbidden($"Path '{relative}' must not contain '..' or empty segments.");
        return Path.Combine(RealRoot, Path.Combine(parts));
    }

    private bool IsInside(string real) =>
        real.StartsWith(RealRoot.EndsWith('/') ? RealRoot : RealRoot + "/", StringComparison.Ordinal);

    /// <summary>POSIX <c>realpath</c>: every component's links followed, <c>..</c> applied to the resolved parent.</summary>
    internal static string RealPath(string absolute) => RealPath(absolute, 0);

    private static string RealPath(string absolute, int depth)
    {
        if (depth > MaxLinkDepth) throw new IOException("Too many levels of symbolic links.");
        string current = Path.GetPathRoot(absolute) ?? "/";
        foreach (string part in absolute[current.Length..].Split('/', StringSplitOptions.RemoveEmptyEntries))
        {
            if (part == ".") continue;
            if (part == "..")
            {
                current = Path.GetDirectoryName(current) ?? current;
                continue;
            }
            string next = Path.Combine(current, part);
            string? target = new FileInfo(next).LinkTarget;
            if (target is not null)
                next = RealPath(Path.IsPathRooted(target) ? target : Path.Combine(current, target), depth + 1);
            current = next;
        }
        return current;
    }
}

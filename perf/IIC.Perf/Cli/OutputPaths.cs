namespace IIC.Perf.Cli;

/// <summary>Where results go by default: perf/out in the repository that contains the working directory.</summary>
internal static class OutputPaths
{
    public static string DefaultDirectory()
    {
        for (var directory = new DirectoryInfo(Environment.CurrentDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "IICFast.sln")))
            {
                return Path.Combine(directory.FullName, "perf", "out");
            }
        }
        return Path.Combine(Environment.CurrentDirectory, "perf", "out");
    }
}

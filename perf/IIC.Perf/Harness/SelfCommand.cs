namespace IIC.Perf.Harness;

/// <summary>How to start this program again as a child: the apphost itself, or <c>dotnet IIC.Perf.dll</c>.</summary>
internal static class SelfCommand
{
    /// <summary>The executable and the arguments that come before the program's own.</summary>
    public static (string Executable, IReadOnlyList<string> LeadingArguments) Resolve()
    {
        var processPath = Environment.ProcessPath ?? throw new InvalidOperationException("Cannot tell which executable runs this process (Environment.ProcessPath is null).");
        if (string.Equals(Path.GetFileNameWithoutExtension(processPath), "dotnet", StringComparison.Ordinal))
        {
            return (processPath, [Path.Combine(AppContext.BaseDirectory, "IIC.Perf.dll")]);
        }
        return (processPath, []);
    }
}

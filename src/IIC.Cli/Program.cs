namespace IIC.Cli;

/// <summary>Entry point of <c>iic</c>: dispatches to one command per verb.</summary>
internal static class Program
{
    /// <summary>Exit code for bad command-line usage (BSD sysexits EX_USAGE).</summary>
    public const int UsageError = 64;

    /// <summary>Exit code when the command could not do its job at run time.</summary>
    public const int RuntimeError = 1;

    // Add a command here: the name, a one-line summary for `iic --help`, and what runs it.
    private static readonly (string Name, string Summary, Func<string[], int> Run)[] s_commands =
    [
        ("hypervisor", "run a standalone hypervisor until Ctrl+C or SIGTERM", HypervisorCommand.Run),
        ("stat", "show a running process's IICFast counters per service (live, or --once --json)", Stat.StatCommand.Run),
    ];

    private static int Main(string[] args)
    {
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            PrintUsage(Console.Out);
            return args.Length == 0 ? UsageError : 0;
        }
        if (args[0] is "--version")
        {
            // The package version (with the commit, when built from git), as `dotnet tool list` shows it.
            Console.WriteLine(typeof(Program).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false) is [System.Reflection.AssemblyInformationalVersionAttribute { InformationalVersion: var version }]
                ? version
                : typeof(Program).Assembly.GetName().Version?.ToString());
            return 0;
        }
        foreach (var (name, _, run) in s_commands)
        {
            if (name == args[0])
            {
                return run(args[1..]);
            }
        }
        Console.Error.WriteLine($"iic: unknown command '{args[0]}'.");
        PrintUsage(Console.Error);
        return UsageError;
    }

    private static void PrintUsage(TextWriter output)
    {
        output.WriteLine("usage: iic <command> [options]");
        output.WriteLine();
        output.WriteLine("commands:");
        foreach (var (name, summary, _) in s_commands)
        {
            output.WriteLine($"  {name,-12} {summary}");
        }
        output.WriteLine();
        output.WriteLine("Run 'iic <command> --help' for a command's options.");
    }
}

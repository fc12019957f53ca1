using System.Diagnostics;
using System.Globalization;

namespace IIC.Cli.Stat;

/// <summary>
/// <c>iic stat</c>: attaches to a running process over EventPipe (<see cref="MetricsReader"/>) and shows its
/// IIC.Transport counters per service, refreshing, or one snapshot (<c>--once</c>, <c>--json</c>).
/// </summary>
internal static class StatCommand
{
    /// <summary>Exit code when the process runs but shows no IIC.Transport instruments.</summary>
    public const int NotIicExitCode = 3;

    private const string Usage = """
        usage: iic stat <pid> [options]
               iic stat --name <process name> [options]

        Shows the IICFast counters (meter IIC.Transport) of a running .NET process, per service, refreshing
        every interval until Ctrl+C or until the process exits. Attaches with EventPipe (the process's .NET
        diagnostics socket), like dotnet-counters; nothing needs to be enabled in the process.

        options:
          --name <name>        find the process by name (its executable, or the .dll a `dotnet` host runs)
          --once               print one snapshot (after two intervals, so rates are filled) and exit
          --json               print the snapshot as JSON (with --once: one object; live: one per interval)
          --interval <s>       seconds between refreshes (default 1)
          --timeout <s>        how long to wait for IIC.Transport instruments to appear (default 5)
          -h, --help           show this help

        exit codes: 0 done, 1 cannot attach (no such process, no diagnostics socket), 3 the process does not
        use IICFast (no IIC.Transport instruments within the timeout), 64 bad usage.

        examples:
          iic stat 4242
          iic stat --name OrderService --once --json
        """;

    public static int Run(string[] args)
    {
        StatOptions options;
        try
        {
            options = Parse(args);
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"iic stat: {e.Message}");
            Console.Error.WriteLine("Run 'iic stat --help' for the options.");
            return Program.UsageError;
        }
        if (options.Help)
        {
            Console.WriteLine(Usage);
            return 0;
        }
        try
        {
            return Execute(options, Console.Out);
        }
        catch (StatException e)
        {
            Console.Error.WriteLine($"iic stat: {e.Message}");
            return Program.RuntimeError;
        }
    }

    /// <summary>Parses the arguments.</summary>
    /// <exception cref="UsageException">They are wrong.</exception>
    internal static StatOptions Parse(string[] args)
    {
        var options = new StatOptions();
        for (var i = 0; i < args.Length; i++)
        {
            var arg = args[i];
            string Value()
            {
                if (i + 1 >= args.Length)
                {
                    throw new UsageException($"{arg} needs a value.");
                }
                return args[++i];
            }
            switch (arg)
            {
                case "-h" or "--help":
                    options.Help = true;
                    break;
                case "--once":
                    options.Once = true;
                    break;
                case "--json":
                    options.Json = true;
                    break;
                case "--name" or "-n":
                    options.Name = Value();
                    break;
                case "--interval":
                    options.IntervalSeconds = Seconds(arg, Value(), 1, 3600);
                    break;
                case "--timeout":
                    options.TimeoutSeconds = Seconds(arg, Value(), 1, 3600);
                    break;
                case "-p" or "--process-id":
                    options.ProcessId = ProcessId(Value());
                    break;
                default:
                    if (arg.StartsWith('-'))
                    {
                        throw new UsageException($"unknown option '{arg}'.");
                    }
                    if (options.ProcessId is not null)
                    {
                        throw new UsageException($"only one process id, got '{arg}' too.");
                    }
                    options.ProcessId = ProcessId(arg);
                    break;
            }
        }
        if (!options.Help && (options.ProcessId is null) == (options.Name is null))
        {
            throw new UsageException("give a process id or --name <process name> (one of them).");
        }
        return options;
    }

    /// <summary>Runs the command; the caller prints <see cref="StatException"/>s.</summary>
    internal static int Execute(StatOptions options, TextWriter output)
    {
        var processId = options.ProcessId ?? FindByName(options.Name!);
        var processName = NameOf(processId);
        using var reader = MetricsReader.Start(processId, refreshSeconds: options.IntervalSeconds);
        var timeout = TimeSpan.FromSeconds(options.TimeoutSeconds);
        if (!reader.WaitForInstruments(timeout))
        {
            if (reader.Error is { } error)
            {
                throw new StatException($"Process {processId} refused the metrics session: {error}. Is another tool (dotnet-counters, dotnet-monitor) attached to it?");
            }
            if (reader.Ended)
            {
                throw new StatException($"Process {processId} exited (or ended the session) before showing any IIC.Transport instruments.");
            }
            Console.Error.WriteLine($"iic stat: process {processId}{(processName is null ? "" : $" ({processName})")} does not use IICFast: no IIC.Transport instruments " +
                $"appeared within {options.TimeoutSeconds} s (the meter appears with the process's first IicChannel).");
            return NotIicExitCode;
        }
        var wait = TimeSpan.FromSeconds((3 * options.IntervalSeconds) + options.TimeoutSeconds);
        if (options.Once)
        {
            // Two intervals: the first one after attaching may lack rates.
            var snapshot = reader.WaitFor(s => s.Interval >= 2 && s.Values.Count > 0, wait)
                ?? throw new StatException($"No complete collection interval from process {processId} within {wait.TotalSeconds} s{(reader.Ended ? " (it exited)" : "")}.");
            output.WriteLine(options.Json ? snapshot.ToJson(processName) : snapshot.ToTable(processName, options.IntervalSeconds));
            return 0;
        }
        using var stop = new CancellationTokenSource();
        ConsoleCancelEventHandler onCancel = (_, e) =>
        {
            e.Cancel = true;
            stop.Cancel();
        };
        Console.CancelKeyPress += onCancel;
        try
        {
            var last = 0;
            var clear = !Console.IsOutputRedirected && !options.Json;
            while (!stop.IsCancellationRequested)
            {
                var snapshot = reader.WaitFor(s => s.Interval > last, TimeSpan.FromMilliseconds(250));
                if (snapshot is null)
                {
                    if (reader.Ended)
                    {
                        output.WriteLine($"Process {processId} exited.");
                        return 0;
                    }
                    continue;
                }
                last = snapshot.Interval;
                if (clear)
                {
                    output.Write("\u001b[H\u001b[2J");
                }
                output.WriteLine(options.Json ? snapshot.ToJson(processName) : snapshot.ToTable(processName, options.IntervalSeconds));
                output.Flush();
            }
            return 0;
        }
        finally
        {
            Console.CancelKeyPress -= onCancel;
        }
    }

    /// <summary>Finds the one process named <paramref name="name"/>: by executable name, else by the .dll a <c>dotnet</c> host runs.</summary>
    /// <exception cref="StatException">None or several.</exception>
    internal static int FindByName(string name)
    {
        var self = Environment.ProcessId;
        var matches = new List<int>();
        foreach (var process in Process.GetProcesses())
        {
            using (process)
            {
                if (process.Id == self)
                {
                    continue;
                }
                try
                {
                    if (string.Equals(process.ProcessName, name, StringComparison.Ordinal) || CommandNames(process.Id).Contains(name))
                    {
                        matches.Add(process.Id);
                    }
                }
                catch (InvalidOperationException)
                {
                    // Exited while we looked.
                }
            }
        }
        return matches.Count switch
        {
            0 => throw new StatException($"No process named '{name}' is running."),
            1 => matches[0],
            _ => throw new StatException($"Several processes are named '{name}' (pids {string.Join(", ", matches)}); give the pid instead."),
        };
    }

    /// <summary>For <c>dotnet app.dll ...</c>, "app"; otherwise null.</summary>
    private static string? HostedAssembly(int processId)
    {
        var parts = CommandLine(processId);
        return parts.Length >= 2 && Path.GetFileName(parts[0]) == "dotnet" && parts[1].EndsWith(".dll", StringComparison.Ordinal)
            ? Path.GetFileNameWithoutExtension(parts[1])
            : null;
    }

    /// <summary>The names a process goes by on its command line: argv[0]'s file name, and the .dll a <c>dotnet</c> host runs.</summary>
    private static string[] CommandNames(int processId)
    {
        var parts = CommandLine(processId);
        return parts.Length == 0 ? [] : [Path.GetFileName(parts[0]), HostedAssembly(processId) ?? ""];
    }

    private static string[] CommandLine(int processId)
    {
        try
        {
            return File.ReadAllText($"/proc/{processId}/cmdline").Split('\0', StringSplitOptions.RemoveEmptyEntries);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return []; // gone, or not ours to read
        }
    }

    private static string? NameOf(int processId)
    {
        try
        {
            using var process = Process.GetProcessById(processId);
            var names = CommandNames(processId);
            return HostedAssembly(processId) ?? (names.Length > 0 && names[0] != "dotnet" ? names[0] : process.ProcessName);
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException)
        {
            return null;
        }
    }

    private static int ProcessId(string text)
        => int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && pid > 0
            ? pid
            : throw new UsageException($"'{text}' is not a process id.");

    private static int Seconds(string option, string text, int min, int max)
        => int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var seconds) && seconds >= min && seconds <= max
            ? seconds
            : throw new UsageException($"{option} takes whole seconds from {min} to {max}, not '{text}'.");
}

/// <summary>The parsed options of <c>iic stat</c>.</summary>
internal sealed class StatOptions
{
    public int? ProcessId { get; set; }

    public string? Name { get; set; }

    public bool Once { get; set; }

    public bool Json { get; set; }

    public bool Help { get; set; }

    public int IntervalSeconds { get; set; } = 1;

    public int TimeoutSeconds { get; set; } = 5;
}

using System.Diagnostics;
using IIC.Hardware;
using IIC.Perf.Core;
using IIC.Perf.Harness;

namespace IIC.Perf.Isolation;

/// <summary>
/// The hypervisor of the <c>iic-ns</c> rows, itself a process in namespaces of its own (as a per-node daemon or a
/// sidecar runs): this program started again as <c>IIC.Perf __hypervisor NAME DIR</c> under
/// <see cref="NamespaceLauncher"/>. It cannot see the partitions' pids; it knows them by their sockets' pidfds.
/// It prints "ready" once listening and runs until its standard input closes (the parent ending or dying).
/// </summary>
internal sealed class NamespacedHypervisor : IDisposable
{
    public const string Verb = "__hypervisor";
    private static readonly TimeSpan s_startup = TimeSpan.FromSeconds(30);
    private readonly Process _process;

    private NamespacedHypervisor(Process process) => _process = process;

    /// <summary>Child side: runs the hypervisor.</summary>
    public static int Run(string[] args)
    {
        if (args.Length != 3)
        {
            Console.Error.WriteLine($"usage: IIC.Perf {Verb} <name> <socket dir> (started by the harness, not by hand)");
            return 2;
        }
        using var hypervisor = Hypervisor.Start(args[1], new HypervisorOptions { SocketDirectory = args[2], Log = Console.Error.WriteLine });
        Console.Out.WriteLine("ready");
        Console.Out.Flush();
        using var input = Console.OpenStandardInput();
        var buffer = new byte[64];
        try
        {
            while (input.Read(buffer) > 0)
            {
            }
        }
        catch (IOException)
        {
            // end of input either way
        }
        return 0;
    }

    /// <summary>Parent side: starts it in fresh namespaces sharing only <paramref name="directory"/> and waits (bounded) until it listens.</summary>
    /// <exception cref="InvalidOperationException">It could not be started or did not say "ready" in time (its stderr is in the message).</exception>
    public static NamespacedHypervisor Start(string name, string directory)
    {
        var (executable, leading) = SelfCommand.Resolve();
        var launch = NamespaceLauncher.Wrap(new ChildLaunch([], []), directory);
        var command = launch.Prefix.Append(executable).Concat(leading).Concat([Verb, name, directory]).ToList();
        var start = new ProcessStartInfo(command[0])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in command.Skip(1))
        {
            start.ArgumentList.Add(argument);
        }
        var process = Process.Start(start) ?? throw new InvalidOperationException("Could not start the namespaced hypervisor.");
        var hypervisor = new NamespacedHypervisor(process);
        var errors = process.StandardError.ReadToEndAsync();
        var ready = process.StandardOutput.ReadLineAsync();
        if (!ready.Wait(s_startup) || ready.Result != "ready")
        {
            hypervisor.Dispose();
            var said = errors.Wait(TimeSpan.FromSeconds(2)) ? errors.Result.Trim() : "";
            throw new InvalidOperationException($"The namespaced hypervisor did not start within {s_startup.TotalSeconds} s. {said}".TrimEnd());
        }
        _ = errors.ContinueWith(t => { }, TaskScheduler.Default); // keep draining stderr so it never blocks
        return hypervisor;
    }

    /// <summary>Ends it: closes its input (it stops and removes its socket), kills it if it lingers.</summary>
    public void Dispose()
    {
        try
        {
            _process.StandardInput.Close();
            if (!_process.WaitForExit(TimeSpan.FromSeconds(10)))
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (Exception e) when (e is InvalidOperationException or IOException)
        {
            // already gone
        }
        _process.Dispose();
    }
}

using System.Globalization;
using IIC.Hardware;

namespace IIC.Isolation.Host;

/// <summary>
/// Runs one scenario; every scenario prints what it saw on stdout, one line per fact, and exits 0 when its own
/// checks passed. Positional arguments; every wait is bounded so a broken parent cannot hang a child.
/// </summary>
internal static class Program
{
    private static int Main(string[] args)
    {
        if (args.Length == 0)
        {
            Console.Error.WriteLine("usage: IIC.Isolation.Host hypervisor|echo-server|echo-client|sender|try-attach|probe args...");
            return 64;
        }
        var rest = args[1..];
        try
        {
            return args[0] switch
            {
                "hypervisor" => HypervisorScenario.Run(rest),
                "echo-server" => EchoScenarios.Server(rest),
                "echo-client" => EchoScenarios.Client(rest),
                "sender" => EchoScenarios.Sender(rest),
                "try-attach" => TryAttach(rest),
                "probe" => Probe(rest),
                "who-serves" => WhoServes(rest),
                _ => Unknown(args[0]),
            };
        }
#pragma warning disable CA1031 // A child reports any failure on stderr with a distinct exit code for the parent's message.
        catch (Exception e)
#pragma warning restore CA1031
        {
            Console.Error.WriteLine($"scenario '{args[0]}' failed: {e}");
            return 70;
        }
    }

    private static int Unknown(string name)
    {
        Console.Error.WriteLine($"unknown scenario '{name}'");
        return 64;
    }

    /// <summary>args: hypervisor dir partition. Prints "attached" or "refused MESSAGE".</summary>
    private static int TryAttach(string[] args)
    {
        try
        {
            using var partition = Partition.Attach(args[0], args[2], args[1]);
            Console.WriteLine("attached");
        }
        catch (HypervisorException e)
        {
            Console.WriteLine($"refused {e.Message.ReplaceLineEndings(" ")}");
        }
        return 0;
    }

    /// <summary>
    /// args: hypervisor dir partition. Prints "server pid P uid U" (SO_PEERCRED of the hypervisor's socket as
    /// this process's namespaces translate it), then attaches and prints "attached".
    /// </summary>
    private static int WhoServes(string[] args)
    {
        using (var socket = IIC.Native.SeqPacketSocket.Create())
        {
            socket.Connect(HypervisorPaths.SocketPath(args[0], args[1]));
            var server = socket.GetPeerCredentials();
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"server pid {server.Pid} uid {server.Uid}"));
        }
        using var partition = Partition.Attach(args[0], args[2], args[1]);
        Console.WriteLine("attached");
        return 0;
    }

    /// <summary>
    /// args: paths. Prints "pid N" (this process's pid in its own pid namespace), "uid N", then "PATH exists" or
    /// "PATH missing" per path: what this process can see of the machine.
    /// </summary>
    private static int Probe(string[] args)
    {
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"pid {Environment.ProcessId}"));
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"uid {IIC.Native.Credentials.EffectiveUserId}"));
        foreach (var path in args)
        {
            Console.WriteLine($"{path} {(File.Exists(path) || Directory.Exists(path) ? "exists" : "missing")}");
        }
        return 0;
    }
}

using IIC.Hardware;
using IIC.Transport;

namespace EchoDemo;

/// <summary>The server process: starts an embedded hypervisor, offers "echo" and echoes every message back.</summary>
public static class EchoServer
{
    /// <summary>Runs until the client closes its channel.</summary>
    public static void Run(string hypervisorName = "demo", string? socketDirectory = null)
    {
        // The hypervisor grants shared memory to partitions (processes). Embed it in one process like this,
        // or run `iic hypervisor --name demo` instead and drop this line.
        using var hypervisor = Hypervisor.Start(hypervisorName, new HypervisorOptions { SocketDirectory = socketDirectory });
        using var partition = Partition.Attach(hypervisorName, "server", socketDirectory);
        using var listener = IicListener.Listen(partition, "echo");
        Console.WriteLine("listening on 'echo'");

        using var channel = listener.Accept(TimeSpan.FromSeconds(30));
        var buffer = new byte[1 << 20];
        try
        {
            while (true)
            {
                int length = channel.Receive(buffer);   // spins briefly, then sleeps until the client's doorbell
                channel.Send(buffer.AsSpan(0, length)); // one copy, straight into the ring the client reads
            }
        }
        catch (IicChannelClosedException)
        {
            Console.WriteLine("client closed");       // after everything it sent was received
        }
    }
}

using System.Text;
using IIC.Hardware;
using IIC.Transport;

namespace EchoDemo;

/// <summary>The client process: connects to "echo" and talks to the server through shared memory.</summary>
public static class EchoClient
{
    /// <summary>Sends a message three ways and prints each echo.</summary>
    public static async Task RunAsync(string hypervisorName = "demo", string? socketDirectory = null)
    {
        using var partition = Partition.Attach(hypervisorName, "client", socketDirectory);
        using var channel = IicChannel.Connect(partition, "echo"); // waits up to 5 s for the service
        var reply = new byte[1 << 20];

        // 1. Send and Receive: spans in, spans out.
        channel.Send("hello"u8);
        int length = channel.Receive(reply);
        Console.WriteLine(Encoding.UTF8.GetString(reply, 0, length));

        // 2. Zero copy in: write straight into shared memory, then publish.
        if (channel.TryClaim(5, out ChannelClaim claim))
        {
            "world"u8.CopyTo(claim.Span);
            claim.Commit();
        }
        // Zero copy out: the handler reads the message where it lies (a static lambda allocates nothing).
        await channel.WaitToReceiveAsync();
        channel.Poll(static (message, _) => Console.WriteLine(Encoding.UTF8.GetString(message)), 0);

        // 3. As a Stream (or AsDuplexPipe()): SslStream, StreamJsonRpc and friends run over it unchanged.
        using var stream = channel.AsStream();
        using var writer = new StreamWriter(stream, leaveOpen: true) { AutoFlush = true };
        using var reader = new StreamReader(stream, leaveOpen: true);
        await writer.WriteLineAsync("over a stream");
        Console.WriteLine(await reader.ReadLineAsync());
    } // disposing the channel closes it: the server's Receive ends with IicChannelClosedException
}

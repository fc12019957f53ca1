using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using IIC.Tests;
using StreamJsonRpc;

namespace IIC.Transport.Tests;

/// <summary>Real Stream libraries over <see cref="IicChannel.AsStream"/> between two processes.</summary>
public class InteropTests
{
    private static readonly TimeSpan s_timeout = PartitionHost.Timeout;

    [Fact]
    public async Task SslStream_handshakes_and_echoes_over_AsStream_across_processes()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=iicfast-test", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("iicfast-test");
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var pfx = Convert.ToBase64String(certificate.Export(X509ContentType.Pfx));
        var thumbprint = certificate.GetCertHashString();

        using var host = PartitionHost.Start();
        var (child, channel) = await host.StartChildAsync("transport-tls-server", 64 * 1024, pfx);
        using (child)
        {
            string? seen = null;
            var tls = new SslStream(channel.AsStream(), leaveInnerStreamOpen: false);
            await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
            {
                TargetHost = "iicfast-test",
                RemoteCertificateValidationCallback = (_, presented, _, _) => (seen = presented?.GetCertHashString()) == thumbprint,
            }).WaitAsync(s_timeout);
            Assert.Equal(thumbprint, seen);
            Assert.True(tls.IsAuthenticated && tls.IsEncrypted);
            Assert.True(tls.SslProtocol is SslProtocols.Tls12 or SslProtocols.Tls13);
            Assert.StartsWith("authenticated", child.ReadLine(), StringComparison.Ordinal);

            var data = new byte[300_000];
            new Random(3).NextBytes(data);
            var echoed = new MemoryStream();
            var reader = Task.Run(async () =>
            {
                var buffer = new byte[16 * 1024];
                while (echoed.Length < data.Length)
                {
                    var read = await tls.ReadAsync(buffer);
                    Assert.NotEqual(0, read);
                    echoed.Write(buffer, 0, read);
                }
            });
            for (var offset = 0; offset < data.Length; offset += 20_000)
            {
                await tls.WriteAsync(data.AsMemory(offset, Math.Min(20_000, data.Length - offset)));
            }
            await reader.WaitAsync(s_timeout);
            Assert.True(data.AsSpan().SequenceEqual(echoed.ToArray()), "the TLS echo differs");
            await tls.ShutdownAsync();
            await tls.DisposeAsync(); // and the channel: the child's read returns 0
            Assert.Equal("closed", child.ReadLine());
            child.AssertExit(0);
        }
    }

    [Fact]
    public async Task StreamJsonRpc_request_response_over_AsStream_across_processes()
    {
        using var host = PartitionHost.Start();
        var (child, channel) = await host.StartChildAsync("transport-jsonrpc-server", 64 * 1024);
        using (child)
        {
            var rpc = JsonRpc.Attach(channel.AsStream());
            using (rpc)
            {
                Assert.Equal(5, await rpc.InvokeAsync<int>("Add", 2, 3).WaitAsync(s_timeout));
                Assert.Equal("cba@" + child.Id, await rpc.InvokeAsync<string>("Reverse", "abc").WaitAsync(s_timeout));
                var calls = new List<Task<int>>();
                for (var i = 0; i < 100; i++)
                {
                    calls.Add(rpc.InvokeAsync<int>("Add", i, 1000)); // concurrent requests, out-of-order completion is fine
                }
                var results = await Task.WhenAll(calls).WaitAsync(s_timeout);
                Assert.Equal(Enumerable.Range(1000, 100), results);
                var values = Enumerable.Range(0, 200_000).ToArray(); // ~1.3 MB of JSON: many records through a 64 KiB ring
                Assert.Equal(values.Sum(v => (long)v), await rpc.InvokeAsync<long>("Sum", [values]).WaitAsync(s_timeout));
                Assert.Equal(103, await rpc.InvokeAsync<int>("Calls").WaitAsync(s_timeout));
            }
            // Disposing the JsonRpc disposes the stream and so the channel: the child's rpc completes.
            Assert.Equal("closed", child.ReadLine());
            child.AssertExit(0);
        }
    }
}

using System.Text;
using Grpc.Core;

namespace IIC.Grpc.Protocol;

/// <summary>
/// Headers and trailers on the wire:
/// <code>
/// u16 count
/// count x { u8 binary (0/1), u16 key length, key (ASCII), u32 value length, value (bytes; UTF-8 text unless binary) }
/// </code>
/// </summary>
internal static class MetadataCodec
{
    public static void Write(FrameBuilder builder, Metadata? metadata)
    {
        var count = metadata?.Count ?? 0;
        if (count > ushort.MaxValue)
        {
            throw new RpcException(new Status(StatusCode.Internal, $"{count} metadata entries are more than the 65535 a call frame carries."));
        }
        builder.WriteUInt16((ushort)count);
        for (var i = 0; i < count; i++)
        {
            var entry = metadata![i];
            builder.WriteByte(entry.IsBinary ? (byte)1 : (byte)0);
            builder.WriteShortString(entry.Key);
            if (entry.IsBinary)
            {
                var bytes = entry.ValueBytes;
                builder.WriteUInt32((uint)bytes.Length);
                builder.Write(bytes);
            }
            else
            {
                builder.WriteLongString(entry.Value);
            }
        }
    }

    /// <summary>
    /// Reads a metadata block; an empty one gives a fresh empty <see cref="Metadata"/>, or the shared read-only
    /// <see cref="Metadata.Empty"/> with <paramref name="shareEmpty"/> (the client's received headers and trailers).
    /// </summary>
    /// <exception cref="InvalidDataException">The block is malformed.</exception>
    public static Metadata Read(ref FrameReader reader, bool shareEmpty = false)
    {
        var count = reader.ReadUInt16();
        if (count == 0 && shareEmpty)
        {
            return Metadata.Empty; // read-only: what a client receives is for reading, and most calls carry none
        }
        var metadata = new Metadata();
        for (var i = 0; i < count; i++)
        {
            var binary = reader.ReadByte() != 0;
            var key = Encoding.ASCII.GetString(reader.Take(reader.ReadUInt16()));
            var length = reader.ReadUInt32();
            var value = reader.Take(length > int.MaxValue ? -1 : (int)length);
            try
            {
                if (binary)
                {
                    metadata.Add(key, value.ToArray());
                }
                else
                {
                    metadata.Add(key, Encoding.UTF8.GetString(value));
                }
            }
            catch (ArgumentException e)
            {
                throw new InvalidDataException($"A call frame carries an invalid metadata entry '{key}': {e.Message}", e);
            }
        }
        return metadata;
    }
}

using System.Globalization;

namespace IIC.Hardware;

/// <summary>Collects a request's fields (a lambda cannot capture a ref struct writer).</summary>
internal sealed class ControlWriterBox(ControlMessageType type, uint requestId)
{
    private readonly List<object> _fields = [];

    public void WriteString(string value) => _fields.Add(value);

    public void WriteUInt32(uint value) => _fields.Add(value);

    public void WriteInt64(long value) => _fields.Add(value);

    public ReadOnlySpan<byte> Finish(byte[] buffer)
    {
        var writer = new ControlWriter(buffer, type, requestId);
        foreach (var field in _fields)
        {
            switch (field)
            {
                case string s:
                    writer.WriteString(s);
                    break;
                case uint u:
                    writer.WriteUInt32(u);
                    break;
                case long l:
                    writer.WriteInt64(l);
                    break;
                default:
                    throw new InvalidOperationException(string.Create(CultureInfo.InvariantCulture, $"Unexpected field {field}."));
            }
        }
        return writer.Finish();
    }
}
